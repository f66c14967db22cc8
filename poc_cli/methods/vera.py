"""VeRA (peft `VeraConfig`, Kopiczko et al. 2024): one pair of frozen random matrices shared by every
layer, and per layer two trained scaling vectors, r + out parameters.

Its count grows by one parameter per layer and rank, so a LoRA budget is often out of reach: past
the largest min(in, out) a larger r adds no rank to any layer's update. The shared matrices are
frozen buffers (as peft counts them): memory, not trainable parameters.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from poc_cli.specs import MethodSpecBase, Number, Rank, Seed

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture


class VeraSpec(MethodSpecBase):
    """VeRA's recipe entry: `r` fitted unless given; `off_budget: true` lets it run at the largest count it
    reaches when the budget is out of reach."""

    # Scaling vectors of frozen random matrices move the model less per step than LoRA's matrices: peft's
    # VeRA example (examples/sequence_classification/VeRA.ipynb) trains them at 2e-2, its method_comparison
    # at 1e-3 over a 5,000-step Llama run.
    DEFAULT_LR: ClassVar[float] = 1e-2
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (2e-3, 5e-3, 1e-2, 2e-2)}

    method: Literal["vera"]
    r: Rank | None = None
    d_initial: Number = Field(default=0.1, gt=0, le=10)
    dropout: Number = Field(default=0.0, ge=0, lt=1)
    projection_prng_key: Seed | None = None
    off_budget: Annotated[bool, Field(strict=True)] = False


SPEC = VeraSpec
NO_CONVOLUTIONS = "peft's VeRA has no convolution layer"  # refused where the targets include convolutions

FITTED = True
TRAINS = True
FROZEN_BASE = True  # trains vectors beside frozen weights
QUANTIZABLE = True  # peft has 4- and 8-bit VeRA layers
SAVES = "adapter"


def largest_rank(arch: Architecture) -> int:
    """Past this r no layer's update gains rank: the largest r the fit considers."""
    return max(layer.min_dim for layer in arch.layers)


def count(arch: Architecture, r: int, spec: VeraSpec | None = None) -> int:
    """Trained parameters at rank r: lambda_d (r) and lambda_b (out) per layer."""
    del spec
    return sum(r + layer.out_features for layer in arch.layers)


def frozen(arch: Architecture, r: int) -> int:
    """The shared frozen matrices A (r x largest in) and B (largest out x r): memory, not trained."""
    return r * (max(layer.in_features for layer in arch.layers) + max(layer.out_features for layer in arch.layers))


def fit(arch: Architecture, target: int, spec: VeraSpec | None = None) -> int:
    """The rank whose count is closest to `target`, at most `largest_rank`."""
    del spec
    r = round((target - count(arch, 0)) / len(arch.layers))
    return min(max(1, r), largest_rank(arch))


def settings(spec: VeraSpec, r: int) -> dict[str, float | int | bool]:
    """The resolved configuration shown in plans and stored in records."""
    return {"r": r, "d_initial": spec.d_initial, "dropout": spec.dropout}


def implementation(model: nn.Module) -> str:
    """What computes the adapted layers (for the record)."""
    del model
    return "peft"


def apply(model: nn.Module, *, spec: VeraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """Wrap `model` with peft's VeRA; the head trains fully. The shared matrices follow the job's seed
    unless the recipe fixes `projection_prng_key`, and are regenerated from it rather than saved."""
    from peft import VeraConfig, get_peft_model  # 1.6 s to import: only in the job that trains

    with warnings.catch_warnings():  # peft warns about save_projection=False, chosen on purpose
        warnings.filterwarnings("ignore", message=".*save_projection.*")
        config = VeraConfig(
            r=r,
            d_initial=spec.d_initial,
            vera_dropout=spec.dropout,
            projection_prng_key=spec.projection_prng_key if spec.projection_prng_key is not None else seed,
            save_projection=False,
            target_modules=[layer.name for layer in arch.layers],
            modules_to_save=list(arch.head_modules),
            fan_in_fan_out=all(layer.conv1d for layer in arch.layers),
            bias="none",
        )
        return get_peft_model(model, config)
