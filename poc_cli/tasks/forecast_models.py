"""The time-series models transformers ships, behind one call: context in, forecasts out.

transformers' prediction models share an idea but not a signature: TimesFM takes a list of
series of any length and a frequency class; PatchTST takes a (batch, context, channels) tensor of
exactly its context length with an observed mask; PatchTSMixer the same with another name for the
mask. `family` tells them apart by the forward signature, so any `...ForPrediction` model with
one of these interfaces works, not only the three named here.

Every window is scaled by the mean absolute value of its context before the model sees it (and
the forecasts scaled back), so that the training loss weighs a series of thousands of units as
one of tens; the models' own scalers then see values near 1. The loss is the model's own: mean
squared error of the point forecast, plus for a model that forecasts quantiles (TimesFM) their
pinball loss, on the `horizon` points the recipe asks for (the model may predict more).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from torch import nn
from transformers import PretrainedConfig

from poc_cli.errors import RecipeError

# model_type -> class, for configs that do not name their architecture.
KNOWN = {"timesfm": "TimesFmModelForPrediction", "patchtst": "PatchTSTForPrediction",
         "patchtsmixer": "PatchTSMixerForPrediction"}
EPS = 1e-8


@dataclass(frozen=True)
class Forecasts:
    """A batch's forecasts in the data's units: points (batch, horizon) and, where the model gives
    them, quantiles (batch, horizon, levels)."""

    mean: torch.Tensor
    quantiles: torch.Tensor | None


def model_class(config: PretrainedConfig) -> type[nn.Module]:
    """The prediction class for `config`: the architecture it names, else the one its model type has."""
    names = [*(config.architectures or []), KNOWN.get(config.model_type, "")]
    for name in names:
        cls = getattr(transformers, name, None) if name.endswith("ForPrediction") else None
        if cls is not None:
            return cls
    raise RecipeError(f"model: {config.model_type!r} is not a forecasting model poc knows: use TimesFM, PatchTST, "
                      "PatchTSMixer or a config whose 'architectures' names a transformers ...ForPrediction class")


def family(cls: type[nn.Module]) -> str:
    """"timesfm" (a list of series and a frequency), "patch" (a fixed context and `past_observed_mask`)
    or "mixer" (the same with `observed_mask`)."""
    parameters = inspect.signature(cls.forward).parameters
    if "freq" in parameters:
        return "timesfm"
    if "past_observed_mask" in parameters:
        return "patch"
    if "observed_mask" in parameters:
        return "mixer"
    raise RecipeError(f"model: {cls.__name__} takes neither TimesFM's nor PatchTST's inputs; poc cannot call it")


def horizon_limit(config: PretrainedConfig) -> int:
    """The most points the model forecasts in one call."""
    for name in ("horizon_length", "prediction_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise RecipeError(f"model: the {config.model_type} config says neither horizon_length nor prediction_length")


def context_limit(config: PretrainedConfig) -> int:
    """The most past points the model reads (PatchTST reads exactly this many; shorter contexts are
    padded and masked)."""
    return int(config.context_length)


def point_loss_only(config: PretrainedConfig) -> str | None:
    """Why poc cannot train this model's forecasts (a distribution head), or None."""
    loss = getattr(config, "loss", "mse")
    if loss not in (None, "mse"):
        return (f"model: its config trains a distribution (loss {loss!r}); poc trains point forecasts: "
                "set loss: mse in its config.json")
    return None


def frequency(season: int) -> int:
    """TimesFM's frequency class from the season length: 0 for daily or finer, 1 weekly and monthly,
    2 quarterly and yearly."""
    return 2 if season in (1, 4) else 1 if season in (12, 13, 52, 53) else 0


def _scale(past: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Each row's mean absolute observed value (1 where that is 0), as a (batch, 1) column."""
    scale = (past.abs() * observed).sum(1) / observed.sum(1).clamp_min(1)
    return torch.where(scale > EPS, scale, torch.ones_like(scale))[:, None]


def _unwrapped(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft wrapper (its adapters are injected in place, so calling it
    runs them): the wrapper's forward does not take the forecasters' inputs by name."""
    inner = getattr(model, "get_base_model", None)
    return inner() if callable(inner) else model


def _scaled(model: nn.Module, past: torch.Tensor, observed: torch.Tensor, scale: torch.Tensor, *, horizon: int,
            season: int) -> Forecasts:
    """The model's forecasts of the context divided by `scale` (`_scale`), in that scale."""
    model = _unwrapped(model)
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    scaled = (past / scale).to(dtype)
    kind = family(type(model))
    if kind == "timesfm":
        rows = [row[mask.bool()] for row, mask in zip(scaled, observed)]
        full = model(past_values=rows, freq=[frequency(season)] * len(rows)).full_predictions[:, :horizon].float()
        return Forecasts(full[..., 0], full[..., 1:])
    pad = context_limit(model.config) - scaled.shape[1]
    mask = F.pad(observed, (pad, 0))[..., None].to(dtype)
    keyword = "past_observed_mask" if kind == "patch" else "observed_mask"
    out = model(past_values=F.pad(scaled, (pad, 0))[..., None], **{keyword: mask})
    return Forecasts(out.prediction_outputs[:, :horizon, 0].float(), None)


def forecast(model: nn.Module, past: torch.Tensor, observed: torch.Tensor, *, horizon: int,
             season: int) -> Forecasts:
    """Forecast `horizon` points after each row of `past` (batch, context) whose `observed` points
    (1.0) are real and the rest left padding; in the data's units."""
    scale = _scale(past, observed)
    out = _scaled(model, past, observed, scale, horizon=horizon, season=season)
    return Forecasts(out.mean * scale, None if out.quantiles is None else out.quantiles * scale[..., None])


def pinball(quantiles: torch.Tensor, target: torch.Tensor, levels: list[float]) -> torch.Tensor:
    """The mean pinball loss over points and quantile levels (TimesFM's own training loss term)."""
    error = target[..., None] - quantiles
    q = torch.tensor(levels, dtype=error.dtype, device=error.device)
    return torch.maximum(q * error, (q - 1) * error).mean()


def training_loss(model: nn.Module, past: torch.Tensor, observed: torch.Tensor, future: torch.Tensor, *,
                  season: int) -> torch.Tensor:
    """The model's own loss on the scaled window: MSE of the points, plus the quantiles' pinball loss
    where the model forecasts quantiles."""
    scale = _scale(past, observed)
    out = _scaled(model, past, observed, scale, horizon=future.shape[1], season=season)
    target = future / scale
    loss = F.mse_loss(out.mean, target)
    if out.quantiles is not None:
        loss = loss + pinball(out.quantiles, target, levels(model) or [])
    return loss


def levels(model: nn.Module) -> list[float] | None:
    """The quantile levels the model forecasts (None: points only)."""
    model = _unwrapped(model)
    config: Any = model.config
    return list(config.quantiles) if family(type(model)) == "timesfm" else None
