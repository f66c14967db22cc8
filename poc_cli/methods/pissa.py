"""PiSSA (peft `LoraConfig(init_lora_weights="pissa")`, Meng et al. 2024): LoRA whose A and B start at
the weight's r principal singular components, the frozen weight keeping the rest; LoRA's count. The
SVD runs once per layer when the job builds the model."""

from __future__ import annotations

from torch import nn

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, SAVES, TRAINS, count, fit, implementation, settings
from poc_cli.modelhub import Architecture
from poc_cli.recipe import LoraSpec

__all__ = ["FITTED", "FROZEN_BASE", "SAVES", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


def apply(model: nn.Module, *, spec: LoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA started at the weights' principal components on the targeted layers."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, init_lora_weights="pissa")
