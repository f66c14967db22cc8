"""rsLoRA (peft `LoraConfig(use_rslora=True)`, Kalajdzievski 2023): LoRA scaled by alpha / sqrt(r)
instead of alpha / r, so that higher ranks keep learning; LoRA's count, r * (in + out) per layer."""

from __future__ import annotations

from torch import nn

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, SAVES, TRAINS, count, fit, implementation, settings
from poc_cli.modelhub import Architecture
from poc_cli.recipe import LoraSpec

__all__ = ["FITTED", "FROZEN_BASE", "SAVES", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


def apply(model: nn.Module, *, spec: LoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA scaled by alpha / sqrt(r) on the targeted layers."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, use_rslora=True)
