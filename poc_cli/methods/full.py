"""Full fine-tuning: every parameter trains. The accuracy ceiling and the cost reference."""

from __future__ import annotations

from torch import nn

from poc_cli.modelhub import Architecture
from poc_cli.recipe import FullSpec


def count(arch: Architecture) -> int:
    """Parameters outside the head: the whole pretrained model."""
    return arch.total_parameters - arch.head_parameters


def settings(spec: FullSpec) -> dict[str, float | int | bool]:
    """Full fine-tuning has no configuration beyond the training settings."""
    del spec
    return {}


def apply(model: nn.Module, *, spec: FullSpec, r: int | None, arch: Architecture, seed: int) -> nn.Module:
    """Make every parameter trainable."""
    del spec, r, arch, seed
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model

