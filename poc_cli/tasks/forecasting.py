"""`task: forecasting`: demand and other series forecast by a time-series foundation model.

The data is a long table, one row per series and time (`data.series_column`, `time_column`,
`value_column`), the form sales and shipment histories come in. Splits are cut by time, never
by row, so that nothing trained on or chosen by ever reads a later value:
  - test: the table of future values (`data.test`, as the competitions ship it; its first
    `horizon` points per series), else the last `horizon` points of each series;
  - validation (what a search chooses by): the `horizon` points before the test window;
  - train: windows of `context_length` + `horizon` points drawn (seeded by `data.split_seed`) from
    what lies before the validation window, `windows_per_series` per series at most.
A series needs `context_length + horizon` points before the test window (and at least
`2 x horizon + 1`), so that the validation and test forecasts read a full context; shorter ones
are an error, or are dropped and counted with `data.drop_short_series: true`. A training window
of a series whose early part is short reads what there is, left-padded and masked as missing
(the models take an observed mask), so short series still train.

Scores are per series (forecast_scores.py), so a series is the unit of the paired statistics.
The trivial reference is seasonal naive (the value one season earlier); the plan adds the
pretrained model untuned (zero-shot) as a second reference row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoConfig, PretrainedConfig

from poc_cli.errors import RecipeError
from poc_cli.tasks import forecast_models as models
from poc_cli import forecast_scores as scores
from poc_cli.tasks.base import Metric, Task

if TYPE_CHECKING:
    from poc_cli.data import Splits
    from poc_cli.recipe import TrainingSpec

MASE = Metric("mase", "", higher_is_better=False, per_example=True)
SMAPE = Metric("smape", "fraction", higher_is_better=False, per_example=True)
WQL = Metric("wql", "", higher_is_better=False, per_example=False)
REQUIRED = ("horizon", "context_length", "season_length")
NOT_READ = ("validation", "validation_fraction", "test_fraction", "shots_per_class")
DROPPED = "series_dropped"  # frame.attrs key: series too short to forecast, dropped by the recipe's leave


class _Windows(Dataset):
    """One split as tensors: each row's context (left-padded to `context` points, `observed` 0 on the
    padding), the points after it, and (validation, test) the series' MASE scale and seasonal-naive
    forecast."""

    def __init__(self, frame: pd.DataFrame, horizon: int, context: int) -> None:
        rows = frame["context"].tolist()
        self.past = torch.tensor([[0.0] * (context - len(r)) + list(r) for r in rows], dtype=torch.float32)
        self.observed = torch.tensor([[0.0] * (context - len(r)) + [1.0] * len(r) for r in rows])
        self.future = torch.tensor(np.stack(frame["actual"].to_numpy()), dtype=torch.float32)
        zeros = [[0.0] * horizon] * len(frame)
        self.naive = torch.tensor(frame["naive"].tolist() if "naive" in frame else zeros, dtype=torch.float32)
        self.scale = torch.tensor(frame["scale"].tolist() if "scale" in frame else [1.0] * len(frame))
        self.dropped = int(frame.attrs.get(DROPPED, 0))

    def __len__(self) -> int:
        return len(self.past)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"past": self.past[index], "observed": self.observed[index],
                "future": self.future[index], "naive": self.naive[index], "scale": self.scale[index]}


class Forecasting(Task):
    """A transformers prediction model (TimesFM, PatchTST, PatchTSMixer) forecasting each series."""

    name = "forecasting"
    metrics = (MASE, SMAPE, WQL)
    data_fields = frozenset({"series_column", "time_column", "value_column", *REQUIRED, "windows_per_series",
                             "drop_short_series"})
    reference = "zero-shot"
    references = ("seasonal_naive", "auto_ets", "auto_arima", "auto_theta")
    default_references = references  # what planners run today; the plan says how long each takes to fit
    labelled = False
    business_block = "forecast"
    test_from_train = True
    example_nouns = {"train": "windows", "validation": "series", "test": "series"}

    @property
    def horizon(self) -> int:
        return int(self.spec.horizon)  # type: ignore[arg-type]  # required by check_spec

    @property
    def season(self) -> int:
        return int(self.spec.season_length)  # type: ignore[arg-type]

    @property
    def context(self) -> int:
        return int(self.spec.context_length)  # type: ignore[arg-type]

    @property
    def min_length(self) -> int:
        """Points a series needs before the test window: a full context for the validation forecast, and
        at least one point of context for a training window before it."""
        return max(self.context + self.horizon, 2 * self.horizon + 1)

    def check_spec(self) -> None:
        for field in REQUIRED:
            if getattr(self.spec, field) is None:
                raise ValueError(f"data.{field}: task forecasting needs it (e.g. horizon: 18, context_length: 12, "
                                 "season_length: 12 for monthly data)")
        for field in NOT_READ:
            if getattr(self.spec, field) is not None:
                raise ValueError(f"data.{field}: task forecasting cuts by time (validation: the horizon before the "
                                 "test window; test: data.test, else each series' last horizon points)")

    def columns(self) -> dict[str, str]:
        return {"series": "series_column", "time": "time_column", "value": "value_column"}

    def finish_split(self, frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
        """Numbers and times checked per row, rows sorted by time within each series."""
        values = pd.to_numeric(frame["value"], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise RecipeError(f"data.value_column: series {frame['series'].iloc[row]!r} in {location} ({field}) has "
                              f"a value that is not a number: {frame['value'].iloc[row]!r} (row {row + 1})")
        out = pd.DataFrame({"series": frame["series"].astype(str), "time": _times(frame["time"], location, field),
                            "value": values.astype(float)})
        duplicated = out.duplicated(["series", "time"])
        if duplicated.any():
            row = int(duplicated.to_numpy().nonzero()[0][0])
            raise RecipeError(f"data.time_column: series {out['series'].iloc[row]!r} in {location} ({field}) has "
                              f"time {frame['time'].iloc[row]!r} twice (row {row + 1})")
        order = {name: k for k, name in enumerate(dict.fromkeys(out["series"]))}
        return out.sort_values(["series", "time"], key=lambda c: c.map(order) if c.name == "series" else c,
                               kind="stable").reset_index(drop=True)

    def make_splits(self, read: Callable[[str, str], pd.DataFrame],
                    include_test: bool) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
        table = read(self.spec.train, "train")
        histories = {name: group["value"].tolist() for name, group in table.groupby("series", sort=False)}
        if self.spec.test is not None:
            futures = _futures(table, read(self.spec.test, "test"), self.horizon) if include_test else {}
        else:
            futures = {name: h[-self.horizon:] for name, h in histories.items()}
            histories = {name: h[:-self.horizon] for name, h in histories.items()}
        histories, dropped = self._long_enough(histories)
        train, validation, test = self._frames(histories, futures, include_test)
        train = _capped(train, self.spec.max_train_examples, self.spec.split_seed)
        validation = _capped(validation, self.spec.max_validation_examples, self.spec.split_seed)
        test = _capped(test, self.spec.max_test_examples, self.spec.split_seed) if test is not None else None
        for frame in (train, validation, test):
            if frame is not None:
                frame.attrs[DROPPED] = dropped
        return train, validation, test

    def _long_enough(self, histories: dict[str, list[float]]) -> tuple[dict[str, list[float]], int]:
        """The series long enough to forecast, and how many were dropped (error unless the recipe drops)."""
        need = self.min_length
        short = {name for name, h in histories.items() if len(h) < need}
        if short and not self.spec.drop_short_series:
            name = next(name for name in histories if name in short)  # the first in the table
            raise RecipeError(
                f"data.train: series {name!r} has {len(histories[name])} points before the test window; forecasting "
                f"needs {need} (context_length {self.context} + horizon {self.horizon}, and 2 x horizon + 1 for a "
                f"validation window and a training window); {len(short)} of {len(histories)} series are that short: "
                "shorten context_length, or set data.drop_short_series: true to drop them")
        kept = {name: h for name, h in histories.items() if name not in short}
        if not kept:
            raise RecipeError(f"data.drop_short_series: every series is shorter than {need} points; nothing is left")
        for name, history in kept.items():
            before = history[:-self.horizon]
            if len(before) <= self.season:
                raise RecipeError(f"data.season_length: {self.season} is not shorter than the {len(before)} points "
                                  f"series {name!r} has before the validation window: MASE's scale compares each "
                                  "point with the one a season earlier, which needs more than one season of history; "
                                  "use the data's real season (12 for monthly data) or longer series")
            if scores.seasonal_scale(before, self.season) == 0:
                raise RecipeError(f"data.train: series {name!r} repeats itself exactly every {self.season} points "
                                  "before the validation window: its MASE is undefined (no seasonal-naive error)")
        return kept, len(short)

    def _frames(self, histories: dict[str, list[float]], futures: dict[str, list[float]],
                include_test: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        h, c, m = self.horizon, self.context, self.season
        windows, validation, test = [], [], []
        for number, (name, history) in enumerate(histories.items()):
            part = history[:-h]  # before the validation window
            rng = np.random.default_rng([self.spec.split_seed, number])
            starts = np.arange(min(c, len(part) - h), len(part) - h + 1)  # full contexts where the part allows
            for start in sorted(rng.choice(starts, size=min(self.spec.windows_per_series, len(starts)),
                                           replace=False).tolist()):
                windows.append({"series": name, "start": start, "context": part[max(0, start - c):start],
                                "actual": part[start:start + h]})
            validation.append(_target(name, part, history[-h:], c, m))
            if include_test:
                test.append(_target(name, history, futures[name], c, m))
        return (pd.DataFrame(windows), pd.DataFrame(validation), pd.DataFrame(test) if include_test else None)

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        del labels
        return AutoConfig.from_pretrained(source)

    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        with torch.device("meta"):
            return models.model_class(config)(config)

    def load_model(self, source: str, config: PretrainedConfig, **weights: Any) -> nn.Module:
        return models.model_class(config).from_pretrained(source, config=config, **weights)

    def processor(self, source: str, config: PretrainedConfig) -> Any:
        """None: the model scales each series itself (and poc scales each window first)."""
        del source, config

    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        """None: a pretrained forecaster's output layer is pretrained, not new for the task."""
        del model
        return ()

    def inspect(self, splits: Splits, source: str, config: PretrainedConfig, training: TrainingSpec) -> list[str]:
        del source, training
        if (why := models.point_loss_only(config)) is not None:
            raise RecipeError(why)
        limit = models.horizon_limit(config)
        if self.horizon > limit:
            raise RecipeError(f"data.horizon: {self.horizon} points is beyond what the model forecasts ({limit}); "
                              f"use a horizon of at most {limit}")
        if self.context > (most := models.context_limit(config)):
            raise RecipeError(f"data.context_length: {self.context} points is more than the model reads ({most})")
        dropped = int(splits.train.attrs.get(DROPPED, 0))
        return [f"{dropped} series shorter than {self.min_length} points dropped "
                "(data.drop_short_series)"] if dropped else []

    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        del processor, labels, training
        return _Windows(frame, self.horizon, self.context)

    def data_counts(self, dataset: Dataset) -> dict[str, int]:
        assert isinstance(dataset, _Windows)
        return {DROPPED: dataset.dropped} if dataset.dropped else {}

    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        del processor
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return models.training_loss(model, batch["past"], batch["observed"], batch["future"], season=self.season)

    def examples(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["future"].shape[0])

    @torch.no_grad()
    def predict(self, model: nn.Module, batches: DataLoader, *, device: torch.device) -> dict[str, list]:
        """Each series' actual values, forecast, seasonal-naive forecast and MASE scale, its scores, and
        (quantile models) its pinball loss summed over points and levels."""
        model.eval()
        out: dict[str, list] = {"actual": [], "forecast": [], "naive": [], "scale": [], "quantile_loss": []}
        quantiles = models.levels(model)
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            made = models.forecast(model, batch["past"], batch["observed"], horizon=self.horizon, season=self.season)
            actual = batch["future"].float().cpu().numpy()
            out["actual"] += actual.tolist()
            out["forecast"] += made.mean.cpu().tolist()
            out["naive"] += batch["naive"].cpu().tolist()
            out["scale"] += batch["scale"].cpu().tolist()
            if made.quantiles is not None and quantiles is not None:
                out["quantile_loss"] += [scores.quantile_loss(a, q, quantiles)
                                         for a, q in zip(actual, made.quantiles.cpu().numpy())]
        if not out["quantile_loss"]:
            del out["quantile_loss"]
        else:
            out["levels"] = [len(quantiles or [])]
        out["per_example"] = scores.scores(out["actual"], out["forecast"], out["scale"])
        return out

    def scored(self, frame: pd.DataFrame, forecasts: list[list[float]]) -> dict[str, list]:
        """Forecasts made outside a model (a classical reference row's) for the series of `frame`, stored and
        scored as `predict` stores a model's: the same actuals, seasonal-naive forecasts and scales."""
        out: dict[str, list] = {"actual": frame["actual"].tolist(), "forecast": forecasts,
                                "naive": frame["naive"].tolist(), "scale": frame["scale"].tolist()}
        out["per_example"] = scores.scores(out["actual"], out["forecast"], out["scale"])
        return out

    def evaluate(self, predictions: dict[str, list], labels: tuple[str, ...]) -> dict[str, Any]:
        del labels
        per = predictions["per_example"]
        result: dict[str, Any] = {"n": len(per["mase"]), "points": sum(len(a) for a in predictions["actual"]),
                                  "mase": float(np.mean(per["mase"])), "smape": float(np.mean(per["smape"]))}
        if "quantile_loss" in predictions:
            wql = scores.weighted_quantile_loss(predictions["quantile_loss"], predictions["actual"],
                                                predictions["levels"][0])
            if wql is not None:
                result["wql"] = wql
        return result


def _times(column: pd.Series, location: str, field: str) -> pd.Series:
    """Integer steps (1, 2, ...) or dates; a cell that is neither names its row."""
    text = column.astype(str).str.strip()
    if text.str.fullmatch(r"-?\d+").all():
        return text.astype("int64")
    parsed = pd.to_datetime(text, errors="coerce")
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().nonzero()[0][0])
        raise RecipeError(f"data.time_column: {location} ({field}) has a time that is neither an integer nor a date: "
                          f"{column.iloc[row]!r} (row {row + 1})")
    return parsed


def _futures(train: pd.DataFrame, test: pd.DataFrame, horizon: int) -> dict[str, list[float]]:
    """Each training series' first `horizon` test values; the test table must continue every series."""
    dated = {name: pd.api.types.is_datetime64_any_dtype(frame["time"]) for name, frame in (("train", train),
                                                                                           ("test", test))}
    if dated["train"] != dated["test"]:
        kinds = {True: "dates", False: "integer steps"}
        raise RecipeError(f"data.test: its times are {kinds[dated['test']]} but data.train's are "
                          f"{kinds[dated['train']]}: both tables must count time the same way")
    last = train.groupby("series", sort=False)["time"].max()
    groups = dict(tuple(test.groupby("series", sort=False)))
    for name in groups:
        if name not in last.index:
            raise RecipeError(f"data.test: series {name!r} is not in the training table")
    out = {}
    for name, end in last.items():
        if name not in groups:
            raise RecipeError(f"data.test: series {name!r} of the training table has no test values")
        group = groups[name]
        first = group["time"].iloc[0]
        integer = pd.api.types.is_integer_dtype(group["time"])
        if first <= end or (integer and first != end + 1):
            raise RecipeError(f"data.test: series {name!r} starts its test values at time {_shown(first)}, which "
                              f"does not follow its last training time {_shown(end)}")
        if len(group) < horizon:
            raise RecipeError(f"data.test: series {name!r} has {len(group)} test values; horizon is {horizon}")
        out[name] = group["value"].iloc[:horizon].tolist()
    return out


def _shown(time: Any) -> str:
    """A time as the table wrote it: an integer, or a date without a midnight clock."""
    if isinstance(time, pd.Timestamp):
        return time.strftime("%Y-%m-%d" if time == time.normalize() else "%Y-%m-%d %H:%M:%S")
    return str(time)


def _target(name: str, history: list[float], actual: list[float], context: int, season: int) -> dict[str, Any]:
    """One series' forecast to score: the context before the window, the actual values, the seasonal-naive
    forecast and the MASE scale, both from the history before the window, and that whole history (what a
    classical model is fitted on: every value before the window, none in or after it)."""
    return {"series": name, "history": list(history), "context": history[-context:], "actual": actual,
            "naive": scores.seasonal_naive(history, season, len(actual)),
            "scale": scores.seasonal_scale(history, season)}


def _capped(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows, drawn with `seed`, in their order."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index().reset_index(drop=True)
