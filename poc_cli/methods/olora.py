"""OLoRA (peft `LoraConfig(init_lora_weights="olora")`, Buyukakyuz 2024): LoRA whose A and B start at an
orthonormal basis of the weight (QR), the frozen weight adjusted to match; LoRA's count."""

from __future__ import annotations

from torch import nn

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, SAVES, TRAINS, count, fit, implementation, settings
from poc_cli.modelhub import Architecture
from poc_cli.recipe import LoraSpec

__all__ = ["FITTED", "FROZEN_BASE", "SAVES", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


def apply(model: nn.Module, *, spec: LoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA started at an orthonormal basis of each targeted layer's weight."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, init_lora_weights="olora")
