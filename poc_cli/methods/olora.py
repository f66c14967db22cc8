"""OLoRA (peft `LoraConfig(init_lora_weights="olora")`, Buyukakyuz 2024): LoRA whose A and B start at an
orthonormal basis of the weight (QR), the frozen weight adjusted to match; LoRA's count."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, QUANTIZABLE, SAVES, TRAINS, LoraSpec, count, fit, implementation, settings

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

__all__ = ["FITTED", "FROZEN_BASE", "QUANTIZABLE", "SAVES", "SPEC", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


class OLoraSpec(LoraSpec):
    """OLoRA's recipe entry: LoRA's fields."""

    # OLoRA's paper trains at LoRA's rates (Buyukakyuz 2024, Sec. 4).
    DEFAULT_LR: ClassVar[float] = 5e-3
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (1e-3, 2e-3, 5e-3, 1e-2)}

    method: Literal["olora"]  # type: ignore[assignment]


SPEC = OLoraSpec
NO_CONVOLUTIONS = "peft's OLoRA initialisation is defined for Linear layers only"  # refused where the targets include convolutions


def apply(model: nn.Module, *, spec: OLoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA started at an orthonormal basis of each targeted layer's weight."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, init_lora_weights="olora")
