"""DoRA (peft `LoraConfig(use_dora=True)`, Liu et al. 2024): LoRA's update of the direction plus one
trained magnitude per output feature, so r * (in + out) + out parameters per layer."""

from __future__ import annotations

from torch import nn

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, SAVES, TRAINS, implementation, settings
from poc_cli.modelhub import Architecture
from poc_cli.recipe import LoraSpec

__all__ = ["FITTED", "FROZEN_BASE", "SAVES", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


def count(arch: Architecture, r: int) -> int:
    """LoRA's adapters plus one magnitude per output feature of every targeted layer."""
    return lora.count(arch, r) + sum(layer.out_features for layer in arch.layers)


def fit(arch: Architecture, target: int) -> int:
    """The rank whose count is closest to `target` (count is linear in r, plus the magnitudes)."""
    return max(1, round((target - count(arch, 0)) / lora.count(arch, 1)))


def apply(model: nn.Module, *, spec: LoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA with DoRA's magnitudes on the targeted layers."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, use_dora=True)
