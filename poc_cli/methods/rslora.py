"""rsLoRA (peft `LoraConfig(use_rslora=True)`, Kalajdzievski 2023): LoRA scaled by alpha / sqrt(r)
instead of alpha / r, so that higher ranks keep learning; LoRA's count, r * (in + out) per layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, QUANTIZABLE, SAVES, TRAINS, LoraSpec, count, fit, implementation, settings

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

__all__ = ["FITTED", "FROZEN_BASE", "QUANTIZABLE", "SAVES", "SPEC", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


class RsLoraSpec(LoraSpec):
    """rsLoRA's recipe entry: LoRA's fields."""

    # Scaled by alpha / sqrt(r) instead of alpha / r: at the ranks a PoC fits (about 8) its steps are
    # sqrt(r) ~ 3x LoRA's, so its rate sits ~3x lower.
    DEFAULT_LR: ClassVar[float] = 2e-3
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (5e-4, 1e-3, 2e-3, 5e-3)}

    method: Literal["rslora"]  # type: ignore[assignment]


SPEC = RsLoraSpec


def apply(model: nn.Module, *, spec: RsLoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA scaled by alpha / sqrt(r) on the targeted layers."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, use_rslora=True)
