"""Demand forecasting on real M3 and Tourism series with tiny random TimesFM and PatchTST models.

No pretrained time-series weights exist offline, so the models are tiny random ones built from
configs and saved like hub models; the series are the real competitions' from ../shared/data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from peft import LoraConfig, RandLoraConfig, get_peft_model

from conftest import M3, PROJECT, TOURISM, build_forecaster, needs_shared_data, series_subset, write_recipe
from forked_cli import poc_many
from poc_cli.data import load_splits
from poc_cli.errors import RecipeError
from poc_cli.forecast_business import errors, forecast_outcome, month_of
from poc_cli.modelhub import describe
from poc_cli.methods import get_method
from poc_cli.business_spec import ForecastBusinessSpec
from poc_cli.recipe import DataSpec, Recipe
from poc_cli.tasks import checked_task
from poc_cli.forecast_scores import seasonal_naive, seasonal_scale
from poc_cli.tasks.forecasting import Forecasting

pytestmark = needs_shared_data()
ENV = {**os.environ, "COLUMNS": "200"}
H, CONTEXT, SEASON = 18, 12, 12


def poc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=900)


def forecasting_recipe(name: str, model: Path, files: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    """A forecasting recipe on `files` (train and test tables); `data` overrides merge into its data section."""
    recipe: dict[str, Any] = {
        "name": name, "model": str(model), "task": "forecasting",
        "data": {"train": str(files["train"]), "test": str(files["test"]), "horizon": H, "context_length": CONTEXT,
                 "season_length": SEASON, "windows_per_series": 4},
        "methods": [{"method": "lora", "lr": 0.005}, {"method": "randlora", "lr": 0.005},
                    {"method": "full", "lr": 0.002}],
        "budget": {"lora_rank": 4}, "training": {"epochs": 4, "batch_size": 8}, "seeds": [0],
        "cost": {"currency": "JPY", "gpu_hourly_price": 600},
        "business": {"under_forecast_cost": 40, "over_forecast_cost": 8, "monthly_volume": 200000,
                     "current_mase": 1.1},
    }
    for key, value in overrides.items():
        recipe[key] = {**recipe[key], **value} if key == "data" else value
    return recipe


@pytest.fixture(scope="module")
def m3_micro(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """30 real M3 MICRO (sales and shipments) series."""
    return series_subset(M3, tmp_path_factory.mktemp("m3"), 30, category="MICRO")


@pytest.fixture(scope="module")
def m3_store(tmp_path_factory: pytest.TempPathFactory, m3_micro: dict[str, Path]) -> Path:
    """A real `poc run` of LoRA, RandLoRA and full fine-tuning of a tiny TimesFM on M3 MICRO series."""
    folder = tmp_path_factory.mktemp("m3-run")
    model = build_forecaster("timesfm", folder / "timesfm")
    recipe = write_recipe(folder / "recipe.yaml", forecasting_recipe("m3-micro", model, m3_micro))
    result = poc("run", str(recipe), "--store", str(folder / "store"))
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "store"


def _records(store: Path) -> dict[str, dict[str, Any]]:
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}


# --- scores, windows, budgets ------------------------------------------------------------------------


def test_seasonal_naive_row_matches_hand_computed_mase_and_smape(m3_store: Path, m3_micro: dict[str, Path]) -> None:
    train, test = pd.read_csv(m3_micro["train"]), pd.read_csv(m3_micro["test"])
    by_hand = []
    for name in list(dict.fromkeys(train["series_id"]))[:3]:
        history = train[train["series_id"] == name]["value"].to_numpy(dtype=float)
        actual = test[test["series_id"] == name]["value"].to_numpy(dtype=float)[:H]
        naive = np.tile(history[-SEASON:], 2)[:H]
        scale = np.mean(np.abs(history[SEASON:] - history[:-SEASON]))
        by_hand.append((np.mean(np.abs(actual - naive)) / scale,
                        np.mean(2 * np.abs(actual - naive) / (np.abs(actual) + np.abs(naive)))))
        assert seasonal_scale(history.tolist(), SEASON) == pytest.approx(scale)
        assert seasonal_naive(history.tolist(), SEASON, H) == pytest.approx(naive.tolist())
    result = poc("compare", "--store", str(m3_store), "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["method"]: r for r in json.loads(result.stdout)}
    naive_row = rows["seasonal-naive"]
    assert naive_row["method_kind"] == "trivial" and naive_row["metric"] == "mase" and naive_row["n_test"] == 30
    record = _records(m3_store)["lora"]
    test_pred = record["predictions"]["test"]
    from poc_cli.forecast_scores import scores

    per = scores(test_pred["actual"][:3], test_pred["naive"][:3], test_pred["scale"][:3])
    assert per["mase"] == pytest.approx([m for m, _ in by_hand])
    assert per["smape"] == pytest.approx([s for _, s in by_hand])
    assert naive_row["score"]["mean"] == pytest.approx(np.mean(scores(test_pred["actual"], test_pred["naive"],
                                                                       test_pred["scale"])["mase"]))


@pytest.mark.parametrize("context", [CONTEXT, 24])
def test_training_windows_never_read_validation_or_test_values(m3_micro: dict[str, Path], context: int) -> None:
    spec = DataSpec(train=str(m3_micro["train"]), test=str(m3_micro["test"]), horizon=H, context_length=context,
                    season_length=SEASON, windows_per_series=50)
    splits = load_splits(spec, Forecasting(spec))
    lengths = pd.read_csv(m3_micro["train"]).groupby("series_id", sort=False).size()
    assert splits.validation is not None and splits.test is not None
    assert len(splits.test) == len(splits.validation) == 30
    for row in splits.train.itertuples():
        before_validation = lengths[row.series] - H  # the validation window is the last H training points
        assert row.start >= 1 and row.start + H <= before_validation
        assert len(row.context) == min(context, row.start) and len(row.actual) == H  # padded where the part is short
    train = pd.read_csv(m3_micro["train"])
    first = splits.validation.iloc[0]
    history = train[train["series_id"] == first["series"]]["value"].tolist()
    assert first["actual"] == history[-H:] and first["context"] == history[-H - context:-H]
    again = load_splits(spec, Forecasting(spec))
    assert again.train["start"].tolist() == splits.train["start"].tolist()  # seeded by data.split_seed
    trials = load_splits(spec, Forecasting(spec), include_test=False)
    assert trials.test is None and trials.train["start"].tolist() == splits.train["start"].tolist()
    encoded = Forecasting(spec).encode(splits.train, None, (), None)  # type: ignore[arg-type]
    short = min(range(len(splits.train)), key=lambda k: len(splits.train["context"].iloc[k]))
    item = encoded[short]
    observed = len(splits.train["context"].iloc[short])
    assert item["observed"].sum() == observed and item["past"][: context - observed].abs().sum() == 0
    assert (context == 24) == (observed < context)  # M3's 48-point series have short early parts at 24


def test_dates_as_times_and_a_test_table_that_must_follow(tmp_path: Path) -> None:
    months = pd.date_range("2019-01-01", periods=40, freq="MS")
    rows = [{"store": f"s{k}", "month": m.strftime("%Y-%m-%d"), "units": 100 + 10 * k + (i % 12) + i // 12}
            for k in range(3) for i, m in enumerate(months)]
    train = pd.DataFrame(rows).sample(frac=1, random_state=0)  # shuffled: poc sorts by time within each series
    train.to_csv(tmp_path / "train.csv", index=False)
    future = pd.date_range("2022-05-01", periods=6, freq="MS")
    pd.DataFrame([{"store": f"s{k}", "month": m.strftime("%Y-%m-%d"), "units": 1.0}
                  for k in range(3) for m in future]).to_csv(tmp_path / "test.csv", index=False)
    spec = DataSpec(train=str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"), series_column="store",
                    time_column="month", value_column="units", horizon=6, context_length=12, season_length=12)
    splits = load_splits(spec, Forecasting(spec))
    assert splits.test is not None and splits.test["series"].tolist() == list(dict.fromkeys(train["store"]))
    s0 = [100 + (i % 12) + i // 12 for i in range(40)]  # a season and a trend
    row = splits.test[splits.test["series"] == "s0"].iloc[0]
    assert row["context"] == s0[-12:] and row["actual"] == [1.0] * 6 and row["naive"] == s0[-12:-6]
    early = pd.read_csv(tmp_path / "test.csv")
    early.loc[early["store"] == "s0", "month"] = [m.strftime("%Y-%m-%d") for m in pd.date_range("2021-01-01", periods=6,
                                                                                                 freq="MS")]
    early.to_csv(tmp_path / "test.csv", index=False)  # s0's test months overlap its training months
    with pytest.raises(RecipeError, match="data.test: series 's0' starts its test values at time 2021-01-01"):
        load_splits(spec, Forecasting(spec))


def test_test_cut_from_the_table_is_each_series_last_horizon(tmp_path: Path, m3_micro: dict[str, Path]) -> None:
    h = 6
    spec = DataSpec(train=str(m3_micro["train"]), horizon=h, context_length=CONTEXT, season_length=SEASON)
    splits = load_splits(spec, Forecasting(spec))
    train = pd.read_csv(m3_micro["train"])
    first = splits.test.iloc[0]
    history = train[train["series_id"] == first["series"]]["value"].tolist()
    assert first["actual"] == history[-h:] and splits.validation.iloc[0]["actual"] == history[-2 * h:-h]
    assert first["naive"] == history[-h - SEASON:-h][:h]  # the season before the test window


@pytest.mark.parametrize("kind", ["timesfm", "patchtst"])
def test_budgets_equal_peft_counts(tmp_path: Path, kind: str) -> None:
    model_dir = build_forecaster(kind, tmp_path / kind)
    spec = DataSpec(train="unused.csv", horizon=H, context_length=CONTEXT, season_length=SEASON)
    task = Forecasting(spec)
    config = task.config(str(model_dir), ())
    arch = describe(task.skeleton(config), None, task)
    targets = [layer.name for layer in arch.layers]
    assert targets and not task.head_modules(task.skeleton(config))  # every Linear; no new head
    for name, peft_config in (("lora", LoraConfig(r=4, target_modules=targets)),
                              ("randlora", RandLoraConfig(r=4, target_modules=targets))):
        wrapped = get_peft_model(task.load_model(str(model_dir), config), peft_config)
        counted = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
        assert get_method(name).count(arch, 4) == counted, name


def test_shipped_recipe_plans_on_the_timesfm_2_500m_architecture_within_5_percent(tmp_path: Path) -> None:
    """recipes/m3-forecasting.yaml on all 1,428 M3 series, its model a local folder holding only the config of
    google/timesfm-2.0-500m-pytorch (the offline route docs/tasks.md shows; no weights are needed to plan)."""
    from transformers import TimesFmConfig

    folder = tmp_path / "timesfm-2.0-500m"
    TimesFmConfig(context_length=2048, horizon_length=128, hidden_size=1280, intermediate_size=1280,
                  num_hidden_layers=50, num_attention_heads=16, head_dim=80, patch_length=32,
                  architectures=["TimesFmModelForPrediction"]).save_pretrained(folder)
    recipe = yaml.safe_load((PROJECT / "recipes/m3-forecasting.yaml").read_text())
    recipe["model"] = str(folder)
    recipe["data"] = {**recipe["data"], "train": str(M3 / "train.csv"), "test": str(M3 / "test.csv")}
    result = poc("plan", str(write_recipe(tmp_path / "recipe.yaml", recipe)), "--no-estimate", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    rows = {a["method"]: a for a in plan["methods"]}
    assert abs(rows["lora"]["deviation"]) <= 0.05 and abs(rows["randlora"]["deviation"]) <= 0.05
    assert plan["reference"]["method"] == "zero-shot" and plan["full_model_parameters"] > 490_000_000
    assert plan["trivial"] == "seasonal-naive"  # the second reference row: computed from the test data
    assert plan["data"]["sizes"]["test"] == plan["data"]["sizes"]["validation"] == 1428  # no series dropped


# --- real runs -------------------------------------------------------------------------------------


def test_timesfm_on_m3_trains_and_scores_with_both_references(m3_store: Path) -> None:
    records = _records(m3_store)
    assert {r["status"] for r in records.values()} == {"ok"} and set(records) == {
        "lora", "randlora", "full", "zero-shot", "auto_ets", "auto_arima", "auto_theta"}  # the default references
    for method in ("lora", "randlora", "full"):
        curve = records[method]["loss_curve"]
        quarter = len(curve) // 4
        assert np.mean(curve[-quarter:]) < np.mean(curve[:quarter]), method  # the loss falls
        test = records[method]["metrics"]["test"]
        assert test["n"] == 30 and test["points"] == 30 * H and {"mase", "smape", "wql"} <= set(test)
        assert len(records[method]["predictions"]["test"]["per_example"]["mase"]) == 30  # a series is the unit
    assert records["zero-shot"]["loss_curve"] == []
    assert records["lora"]["task"]["metrics"][0] == {"name": "mase", "unit": "", "higher_is_better": False,
                                                      "per_example": True}


def test_patchtst_on_tourism_trains(tmp_path: Path) -> None:
    data = series_subset(TOURISM, tmp_path, 20)
    model = build_forecaster("patchtst", tmp_path / "patchtst", horizon=24)
    recipe = write_recipe(tmp_path / "recipe.yaml", forecasting_recipe(
        "tourism", model, data, data={"horizon": 24, "context_length": 24},
        methods=[{"method": "lora", "search": {"lr": [0.003, 0.01]}}], search=True, business=None,
        references=["seasonal_naive"]))  # the classical rows are tested on Tourism below (AutoARIMA: a minute here)
    result = poc("run", str(recipe), "--store", str(tmp_path / "store"))
    assert result.returncode == 0, result.stdout + result.stderr
    records = _records(tmp_path / "store")
    curve = records["lora"]["loss_curve"]
    quarter = len(curve) // 4
    assert np.mean(curve[-quarter:]) < np.mean(curve[:quarter])
    test = records["lora"]["metrics"]["test"]
    assert test["n"] == 20 and "wql" not in test  # PatchTST forecasts points, not quantiles
    selection = records["lora"]["selection"]
    assert selection["how"] == "search" and selection["metric"] == "mase"
    # The grid's two rates, then any the search added beyond the end where the lowest MASE lay (lower wins).
    assert [t["lr"] for t in selection["trials"] if not t.get("added")] == [0.003, 0.01]
    assert len(selection["trials"]) == 2 + selection["edge"]["added"] and selection["edge"]["added"] <= 3
    best = min(selection["trials"], key=lambda t: t["score"])
    assert records["lora"]["job"]["method"]["lr"] == best["lr"]


def test_compare_and_report_end_to_end(m3_store: Path, tmp_path: Path) -> None:
    result = poc("compare", "--store", str(m3_store))
    assert result.returncode == 0, result.stderr
    assert "seasonal-naive" in result.stdout and "zero-shot" in result.stdout and "mase" in result.stdout
    for fmt, lang in (("md", "en"), ("md", "ja"), ("html", "en"), ("html", "ja")):
        out = tmp_path / f"report-{lang}.{fmt}"
        result = poc("report", "--store", str(m3_store), "--format", fmt, "--lang", lang, "--output", str(out))
        assert result.returncode == 0, result.stderr
        body = out.read_text()
        assert ("Seasonal naive" if lang == "en" else "季節ナイーブ") in body
        assert "MASE" in body and "95%" in body
        assert ("Saving vs today" if lang == "en" else "現在の予測比の月間削減額") in body
    rows = {r["method"]: r for r in json.loads(poc("compare", "--store", str(m3_store), "--json").stdout)}
    english = (tmp_path / "report-en.md").read_text()
    business = english[english.index("## Business impact"):english.index("## Risks")]
    assert business.count("| Seasonal naive |") == 2  # its own cost, and what it saves against today's forecasts
    for method, name in (("lora", "LoRA"), ("randlora", "RandLoRA"), ("full", "Full fine-tuning")):
        assert rows[method]["learning"]["reference"] == "seasonal-naive"  # "learned" means: beat seasonal naive
        learned = rows[method]["learning"]["learned"]
        assert (f"{name} is not significantly better than seasonal naive" in business) == (learned is False)


def test_business_figures_by_hand() -> None:
    spec = ForecastBusinessSpec(under_forecast_cost=10, over_forecast_cost=2, monthly_volume=1000)
    actual = [[[10.0, 10.0], [20.0, 20.0]]]  # one seed, two series, horizon 2
    method = errors(actual, [[[9.0, 11.0], [20.0, 18.0]]])  # under 1+2, over 1
    naive = errors(actual, [[[5.0, 5.0], [25.0, 25.0]]])  # under 10, over 10
    demand = np.array([20.0, 40.0])
    month = month_of(spec, method, demand)
    assert month.under_units == pytest.approx(3 / 60 * 1000) and month.over_units == pytest.approx(1 / 60 * 1000)
    assert month.cost == pytest.approx(50 * 10 + 1000 / 60 * 2)
    outcome = forecast_outcome(spec, method=method, naive=naive, demand=demand, naive_mase=np.array([1.0, 1.0]),
                               investment=1000.0)
    naive_cost = (10 / 60 * 1000) * 10 + (10 / 60 * 1000) * 2
    assert outcome.against == "seasonal-naive" and outcome.saving == pytest.approx(naive_cost - month.cost)
    assert outcome.payback_months == pytest.approx(1000 / outcome.saving)
    assert outcome.saving_range[0] <= outcome.saving <= outcome.saving_range[1]
    current = forecast_outcome(spec.model_copy(update={"current_mase": 2.0}), method=method, naive=naive,
                               demand=demand, naive_mase=np.array([1.0, 1.0]), investment=1000.0)
    assert current.against == "current" and current.baseline_cost == pytest.approx(2 * naive_cost)


# --- bad input: one line naming the series or column, exit 2 at plan time ------------------------------


def _bad(folder: Path, m3_micro: dict[str, Path], edit: Any = None, *, model_horizon: int = 24,
         **data: Any) -> dict[str, Any]:
    """`poc plan` of the micro M3 recipe with its tables edited (`edit`) or its data settings changed, in a
    folder of its own: the command to run."""
    folder.mkdir()
    train = pd.read_csv(m3_micro["train"], dtype=str)
    test = pd.read_csv(m3_micro["test"], dtype=str)
    if edit is not None:
        train, test = edit(train, test)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    model = folder.parent / f"model-{model_horizon}"
    if not model.exists():
        build_forecaster("timesfm", model, horizon=model_horizon)
    files = {"train": folder / "train.csv", "test": folder / "test.csv"}
    recipe = write_recipe(folder / "recipe.yaml", forecasting_recipe("bad", model, files, data=data))
    return {"argv": ["plan", str(recipe), "--no-estimate"], "cwd": str(folder)}


def _one_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _short(first: str) -> Any:
    def short(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        keep = ~((train["series_id"] == first) & (train["t"].astype(int) > 30))
        cut = train[keep]
        moved = test.copy()
        moved.loc[moved["series_id"] == first, "t"] = (moved.loc[moved["series_id"] == first, "t"].astype(int)
                                                       - (len(train) - len(cut))).astype(str)
        return cut, moved
    return short


def _text_value(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = train.copy()
    train.loc[5, "value"] = "n/a"
    return train, test


def _empty_value(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = train.copy()
    train.loc[7, "value"] = None
    return train, test


def _duplicate(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.concat([train.iloc[:3], train.iloc[2:3], train.iloc[3:]]), test


def _gap(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = test.copy()
    test["t"] = (test["t"].astype(int) + 5).astype(str)
    return train, test


def _stranger(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    extra = test.iloc[:1].copy()
    extra["series_id"] = "<b>X</b>"
    return train, pd.concat([test, extra])


def test_bad_forecasting_inputs_are_one_line_errors(tmp_path: Path, m3_micro: dict[str, Path]) -> None:
    """Each case its own `poc plan` process (forked_cli: the imports once for all of them)."""
    first = pd.read_csv(m3_micro["train"])["series_id"].iloc[0]
    cases = {
        "short": (_bad(tmp_path / "short", m3_micro, _short(first)), ("data.train", first, "drop_short_series")),
        "text": (_bad(tmp_path / "text", m3_micro, _text_value), ("data.value_column", "n/a", "row 6")),
        "empty": (_bad(tmp_path / "empty", m3_micro, _empty_value), ("data.train", "'value'")),
        "duplicate": (_bad(tmp_path / "duplicate", m3_micro, _duplicate), ("data.time_column", first, "twice")),
        "gap": (_bad(tmp_path / "gap", m3_micro, _gap), ("data.test", "does not follow")),
        "stranger": (_bad(tmp_path / "stranger", m3_micro, _stranger), ("data.test", "not in the training table")),
        "horizon": (_bad(tmp_path / "horizon", m3_micro, model_horizon=12), ("data.horizon", "18", "12")),
        "season": (_bad(tmp_path / "season", m3_micro, season_length=None), ("data.season_length",)),
        "validation": (_bad(tmp_path / "validation", m3_micro, validation_fraction=0.2),
                       ("data.validation_fraction", "cuts by time")),
    }
    dropped = _bad(tmp_path / "dropped", m3_micro, _short(first), drop_short_series=True)
    results = poc_many([dropped, *(command for command, _ in cases.values())], ENV, at_once=2)
    assert results[0].returncode == 0 and "1 series shorter" in results[0].stdout, results[0].stderr
    assert "test 29 series, validation 29 series" in " ".join(results[0].stdout.split())  # what an example is
    for (name, (_, needles)), result in zip(cases.items(), results[1:]):
        _one_line(result, *needles)


def test_business_block_must_match_the_task(tmp_path: Path, m3_micro: dict[str, Path]) -> None:
    recipe = forecasting_recipe("x", tmp_path, m3_micro, business={"positive_class": "defect", "cost_missed": 1,
                                                                   "cost_false_alarm": 1, "monthly_items": 10,
                                                                   "minutes_per_item": 1, "hourly_rate": 1})
    with pytest.raises(RecipeError, match="business: detection and false-alarm rates need classes"):
        checked_task(Recipe.model_validate(recipe))
    with pytest.raises(ValueError, match="monthly_volume"):
        Recipe.model_validate(forecasting_recipe("x", tmp_path, m3_micro, business={"under_forecast_cost": 1}))
    with pytest.raises(RecipeError, match="need task forecasting"):
        checked_task(Recipe.model_validate({"name": "t", "model": "m", "data": {"train": "a.csv", "test": "b.csv"},
                                            "methods": [{"method": "lora"}], "business": {
                                                "under_forecast_cost": 1, "over_forecast_cost": 1, "monthly_volume": 5}}))


def test_patchtsmixer_is_called_through_the_same_interface() -> None:
    """PatchTSMixer names its mask `observed_mask`: poc tells the families apart by signature."""
    import torch
    from transformers import PatchTSMixerConfig, PatchTSMixerForPrediction

    from poc_cli.tasks import forecast_models

    torch.manual_seed(0)
    model = PatchTSMixerForPrediction(PatchTSMixerConfig(context_length=32, prediction_length=24, patch_length=8,
                                                         patch_stride=8, num_input_channels=1, d_model=16,
                                                         num_layers=2))
    assert forecast_models.family(type(model)) == "mixer" and forecast_models.horizon_limit(model.config) == 24
    past, observed = torch.rand(4, 12) * 100, torch.ones(4, 12)
    observed[0, :5] = 0  # a short context, left-padded
    made = forecast_models.forecast(model, past, observed, horizon=18, season=12)
    assert made.mean.shape == (4, 18) and made.quantiles is None
    loss = forecast_models.training_loss(model, past, observed, torch.rand(4, 18) * 100, season=12)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


# --- the classical rows: what planners run today ------------------------------------------------------


@pytest.fixture(scope="module")
def tourism_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `poc run` on 20 Tourism series (the shortest 20, 67 to 175 months: AutoARIMA's time grows with a
    series' length), a tiny random PatchTST fine-tuned with LoRA, and the three classical rows the recipe asks
    for by default; over 30 s: AutoARIMA's fits take most of it, as they would for a user."""
    folder = tmp_path_factory.mktemp("tourism-run")
    files = shortest_series(TOURISM, folder, 20)
    model = build_forecaster("patchtst", folder / "patchtst", horizon=24, context=32)
    body = forecasting_recipe("tourism-20", model, files, data={"horizon": 24, "context_length": 32},
                              methods=[{"method": "lora", "lr": 0.005}], training={"epochs": 2, "batch_size": 16})
    body["business"] = {k: v for k, v in body["business"].items() if k != "current_mase"}  # against the best classical
    recipe = write_recipe(folder / "recipe.yaml", body)
    planned = poc("plan", str(recipe))
    assert planned.returncode == 0, planned.stderr
    assert all(f"{name}" in planned.stdout for name in ("auto_ets", "auto_arima", "auto_theta", "fits ~"))
    result = poc("run", str(recipe), "--store", str(folder / "store"))
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "store"


def shortest_series(source: Path, folder: Path, series: int) -> dict[str, Path]:
    """The `series` shortest series of a real ../shared/data set (train and test tables), in `folder`."""
    train = pd.read_csv(source / "train.csv")
    names = set(train.groupby("series_id", sort=False).size().sort_values(kind="stable").index[:series])
    out = {}
    for split, table in (("train", train), ("test", pd.read_csv(source / "test.csv"))):
        out[split] = folder / f"{split}.csv"
        table[table["series_id"].isin(names)].to_csv(out[split], index=False)
    return out


def _history(train: pd.DataFrame, name: str) -> np.ndarray:
    return train[train["series_id"] == name]["value"].to_numpy(dtype=float)


def test_each_classical_row_is_the_library_called_directly(tourism_store: Path) -> None:
    """On three series by hand: statsforecast's own forecast from each series' whole training history, and the
    MASE of it, are what the stored row holds."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    folder = tourism_store.parent  # the fixture's tables: the 20 series it ran
    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    records = _records(tourism_store)
    names = list(dict.fromkeys(train["series_id"]))[:3]
    for kind, model in (("auto_ets", AutoETS), ("auto_arima", AutoARIMA), ("auto_theta", AutoTheta)):
        stored = records[kind]
        assert stored["status"] == "ok" and stored["runtime"]["implementation"].endswith(model.__name__)
        assert stored["timing"]["fit_s"] > 0 and stored["parameters"] == {}
        for k, name in enumerate(names):
            history = _history(train, name)
            expected = model(season_length=12).forecast(y=history, h=24)["mean"]
            assert stored["predictions"]["test"]["forecast"][k] == pytest.approx(expected.tolist(), rel=1e-9)
            actual = test[test["series_id"] == name]["value"].to_numpy(dtype=float)[:24]
            mase = np.mean(np.abs(actual - expected)) / np.mean(np.abs(history[12:] - history[:-12]))
            assert stored["predictions"]["test"]["per_example"]["mase"][k] == pytest.approx(mase)


def test_a_classical_fit_never_reads_a_test_value(tmp_path: Path) -> None:
    """Every value of the test table multiplied by ten: the histories the classical models are fitted on, and so
    their forecasts, do not move; only the scores against the (changed) actual values do."""
    from poc_cli.methods.classical import forecast

    (tmp_path / "a").mkdir()
    files = series_subset(TOURISM, tmp_path / "a", 3)
    changed = tmp_path / "b"
    changed.mkdir()
    table = pd.read_csv(files["test"])
    table["value"] *= 10
    table.to_csv(changed / "test.csv", index=False)
    splits = {}
    for label, test in (("as given", files["test"]), ("changed", changed / "test.csv")):
        spec = DataSpec(train=str(files["train"]), test=str(test), horizon=24, context_length=12, season_length=12)
        splits[label] = load_splits(spec, Forecasting(spec)).test
    assert splits["as given"]["history"].tolist() == splits["changed"]["history"].tolist()
    assert splits["as given"]["actual"].tolist() != splits["changed"]["actual"].tolist()
    for model in ("auto_ets", "auto_theta"):
        made = [forecast(model, splits[label]["history"].tolist(), season=12, horizon=24).forecasts
                for label in ("as given", "changed")]
        assert made[0] == made[1]


def test_the_verdict_against_what_planners_have_by_hand() -> None:
    """Better than seasonal naive but not than AutoETS: "not better than what planners have", never recommended;
    a method that beats AutoETS significantly can be."""
    from dataclasses import replace

    from test_report import diff, row

    from poc_cli.planners import PlannersCheck
    from poc_cli.report.conclusion import decide

    def behind(r):  # noqa: ANN001, ANN202
        return replace(r, planners=PlannersCheck("auto_ets", 0.85, diff(0.01, -0.02, 0.04), better=False))

    def ahead(r):  # noqa: ANN001, ANN202
        return replace(r, planners=PlannersCheck("auto_ets", 0.85, diff(-0.08, -0.12, -0.04), better=True))

    lora = row("lora", "lora", 0.80)  # learned: better than seasonal naive
    better = row("randlora", "randlora", 0.84, diff(0.04, 0.01, 0.07))
    verdict = decide([behind(lora), behind(better)], full_vs_best=None, best_peft=None, memory_limit_mib=None)
    assert verdict.rule == "planners" and verdict.recommended == "auto_ets"
    assert set(verdict.behind_planners) == {"lora", "randlora"}
    # RandLoRA beats both LoRA and AutoETS: recommended; LoRA, behind AutoETS, is named as left out.
    verdict = decide([behind(lora), ahead(better)], full_vs_best=None, best_peft=None, memory_limit_mib=None)
    assert verdict.rule == "randlora" and verdict.recommended == "randlora" and verdict.behind_planners == ("lora",)
    # Inconclusive between the two would keep LoRA for now, but LoRA loses to AutoETS: the planners' forecast stays.
    same = row("randlora", "randlora", 0.81, diff(0.01, -0.02, 0.04))
    verdict = decide([behind(lora), ahead(same)], full_vs_best=None, best_peft=None, memory_limit_mib=None)
    assert verdict.rule == "planners" and verdict.recommended == "auto_ets"


def test_the_saving_against_the_best_classical_forecast_by_hand() -> None:
    spec = ForecastBusinessSpec(under_forecast_cost=10, over_forecast_cost=2, monthly_volume=1000)
    actual = [[[10.0, 10.0], [20.0, 20.0]]]
    method = errors(actual, [[[9.0, 11.0], [20.0, 18.0]]])  # under 3, over 1
    naive = errors(actual, [[[5.0, 5.0], [25.0, 25.0]]])
    ets = errors(actual, [[[8.0, 10.0], [19.0, 21.0]]])  # under 3, over 1 ... on other points
    demand = np.array([20.0, 40.0])
    outcome = forecast_outcome(spec, method=method, naive=naive, demand=demand, naive_mase=np.array([1.0, 1.0]),
                               investment=100.0, classical=ets)
    ets_cost = (3 / 60 * 1000) * 10 + (1 / 60 * 1000) * 2
    assert outcome.against == "classical" and outcome.baseline_cost == pytest.approx(ets_cost)
    assert outcome.saving == pytest.approx(ets_cost - month_of(spec, method, demand).cost)
    assert outcome.saving_range[0] <= outcome.saving <= outcome.saving_range[1]
    # Today's stated accuracy, where the recipe gives it, stays the baseline.
    current = forecast_outcome(spec.model_copy(update={"current_mase": 2.0}), method=method, naive=naive,
                               demand=demand, naive_mase=np.array([1.0, 1.0]), investment=100.0, classical=ets)
    assert current.against == "current"


def test_compare_and_report_show_the_classical_rows_with_paired_tests(tourism_store: Path, tmp_path: Path) -> None:
    rows = {r["method"]: r for r in json.loads(poc("compare", "--store", str(tourism_store), "--json").stdout)}
    classical = {name: rows[name] for name in ("auto_ets", "auto_arima", "auto_theta")}
    best = min(classical, key=lambda name: classical[name]["score"]["mean"])
    assert all(r["difference"] is not None and r["fit_s"] > 0 for r in classical.values())  # paired against LoRA
    check = rows["lora"]["planners"]
    assert check["best"] == best and check["difference"]["n"] == 20
    assert check["better"] is (check["difference"]["high"] < 0)  # MASE: lower is better
    table = poc("compare", "--store", str(tourism_store))
    assert all(name in table.stdout for name in classical) and "fit " in table.stdout
    for fmt, lang in (("md", "en"), ("md", "ja"), ("html", "en"), ("html", "ja")):
        out = tmp_path / f"report-{lang}.{fmt}"
        made = poc("report", "--store", str(tourism_store), "--format", fmt, "--lang", lang, "--output", str(out))
        assert made.returncode == 0, made.stderr
        body = out.read_text(encoding="utf-8")
        assert "AutoARIMA" in body and "AutoTheta" in body
        assert ("vs the best classical forecast" if lang == "en" else "最良の古典的予測との差") in body
        assert ("Saving vs the best classical forecast" if lang == "en" else "最良の古典的予測比の月間削減額") in body
        assert ("of CPU, no GPU" if lang == "en" else "GPU は不要") in body


def test_a_series_a_classical_model_refuses_falls_back_and_is_counted() -> None:
    """AutoETS refuses a series of five points (statsforecast: "tiny datasets"): it is forecast by
    statsforecast's SeasonalNaive instead, and counted; a series under two seasons is counted as fitted
    without seasonality, as statsforecast fits it; nothing is NaN."""
    from statsforecast.models import SeasonalNaive

    from poc_cli.methods.classical import forecast

    tiny = [1.0, 3.0, 2.0, 5.0, 4.0]
    long = (100 + 10 * np.sin(np.arange(60) * 2 * np.pi / 12)).tolist()
    fitted = forecast("auto_ets", [tiny, long, long[:20]], season=12, horizon=3, workers=2)
    assert fitted.fell_back == [0] and fitted.short == 2 and fitted.workers == 2
    assert fitted.forecasts[0] == SeasonalNaive(season_length=5).forecast(y=np.array(tiny), h=3)["mean"].tolist()
    assert all(np.isfinite(f).all() for f in fitted.forecasts)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_pdf_names_the_classical_rows(tourism_store: Path, tmp_path: Path, lang: str) -> None:
    """The approval file's PDF carries the classical rows and the check against the best of them."""
    from pypdf import PdfReader

    from poc_cli.report import fonts

    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as error:
        pytest.skip(f"WeasyPrint cannot run here ({type(error).__name__}): pip install -e '.[pdf]' and Pango")
    if lang == "ja" and fonts.cjk_family() is None:
        pytest.skip(f"no Japanese font here: {fonts.INSTALL}")
    out = tmp_path / f"report.{lang}.pdf"
    made = poc("report", "--store", str(tourism_store), "--format", "pdf", "--lang", lang, "--output", str(out))
    assert made.returncode == 0, made.stderr
    text = "".join(page.extract_text() for page in PdfReader(out).pages).replace("\n", "").replace(" ", "")
    assert "AutoARIMA" in text and "AutoTheta" in text
    assert ("vsthebestclassicalforecast" if lang == "en" else "最良の古典的予測との差") in text
