"""Full fine-tuning: every parameter trains. The accuracy ceiling and the cost reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from poc_cli.specs import MethodSpecBase

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture


class FullSpec(MethodSpecBase):
    """Full fine-tuning's recipe entry: every parameter trains; the accuracy ceiling and the cost reference."""

    DEFAULT_LR: ClassVar[float] = 1e-4  # from the learning-rate trials in docs/measurements.md
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (2e-5, 5e-5, 1e-4, 2e-4)}

    method: Literal["full"]


SPEC = FullSpec

FITTED = False  # the reference the budget is a fraction of, not fitted to it
TRAINS = True
FROZEN_BASE = False  # trains every weight (fp32 master weights under a mixed precision)
QUANTIZABLE = False  # so the base cannot be quantized
SAVES = "model"
COLOUR = "#2ca02c"  # in every chart


def count(arch: Architecture, r: int | None = None, spec: FullSpec | None = None) -> int:
    """Parameters outside the head: the whole pretrained model."""
    del r, spec
    return arch.total_parameters - arch.head_parameters


def fit(arch: Architecture, target: int, spec: FullSpec | None = None) -> None:
    """Nothing to fit."""
    del arch, target, spec


def settings(spec: FullSpec, r: int | None = None) -> dict[str, float | int | bool]:
    """Full fine-tuning has no configuration beyond the training settings."""
    del spec, r
    return {}


def implementation(model: nn.Module) -> str:
    """No adapter: the model's own layers train."""
    del model
    return "the model's own layers"


def apply(model: nn.Module, *, spec: FullSpec, r: int | None, arch: Architecture, seed: int) -> nn.Module:
    """Make every parameter trainable."""
    del spec, r, arch, seed
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model
