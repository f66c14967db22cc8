"""PiSSA (peft `LoraConfig(init_lora_weights="pissa")`, Meng et al. 2024): LoRA whose A and B start at
the weight's r principal singular components, the frozen weight keeping the rest; LoRA's count. The
SVD runs once per layer when the job builds the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, QUANTIZABLE, SAVES, TRAINS, LoraSpec, count, fit, implementation, settings

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

__all__ = ["FITTED", "FROZEN_BASE", "QUANTIZABLE", "SAVES", "SPEC", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


class PissaSpec(LoraSpec):
    """PiSSA's recipe entry: LoRA's fields."""

    # Its adapters start at the weights' principal components, so a step moves the model about as much as
    # full fine-tuning's does; its paper trains at full fine-tuning's rates (Meng et al. 2024, Sec. 5).
    DEFAULT_LR: ClassVar[float] = 5e-4
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (1e-4, 2e-4, 5e-4, 1e-3)}

    method: Literal["pissa"]  # type: ignore[assignment]


SPEC = PissaSpec
NO_CONVOLUTIONS = "peft's PiSSA initialisation is defined for Linear layers only"  # refused where the targets include convolutions


def apply(model: nn.Module, *, spec: PissaSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """LoRA started at the weights' principal components on the targeted layers."""
    return lora.apply(model, spec=spec, r=r, arch=arch, seed=seed, init_lora_weights="pissa")
