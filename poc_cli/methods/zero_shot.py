"""The zero-shot reference: the pretrained model scored as it is, nothing trained.

Added by the plan for tasks that can score an untrained model (image-text: CLIP's own
similarities between images and class prompts), so every fine-tuned method is read
against what the model already knew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from poc_cli.specs import ReferenceBase

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture


class ReferenceSpec(ReferenceBase):
    """An untrained reference row that the plan adds for tasks that have one (not written in recipes)."""

    method: Literal["zero-shot", "untuned"] = "zero-shot"


SPEC = ReferenceSpec

FITTED = False
TRAINS = False
FROZEN_BASE = True  # trains nothing
QUANTIZABLE = True
SAVES = None


def count(arch: Architecture, r: int | None = None, spec: ReferenceSpec | None = None) -> int:
    """Nothing trains."""
    del arch, r, spec
    return 0


def fit(arch: Architecture, target: int, spec: ReferenceSpec | None = None) -> None:
    """Nothing to fit."""
    del arch, target, spec


def settings(spec: ReferenceSpec, r: int | None = None) -> dict[str, float | int | bool]:
    """No configuration."""
    del spec, r
    return {}


def implementation(model: nn.Module) -> str:
    """Nothing trains."""
    del model
    return "nothing trained"


def apply(model: nn.Module, *, spec: ReferenceSpec, r: int | None, arch: Architecture, seed: int) -> nn.Module:
    """Freeze every parameter."""
    del spec, r, arch, seed
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
