"""DoRA (peft `LoraConfig(use_dora=True)`, Liu et al. 2024): LoRA's update of the direction plus one
trained magnitude per output feature, so r * (in + out) + out parameters per layer.

The magnitudes put DoRA's count between two whole ranks (at LoRA rank 8's budget, r = 8 is over
it by out / (in + out) / 8, about 6%), so the fit gives some layers one rank more than the others
(peft's `rank_pattern`): its setting is the mean rank over the layers, units / layers, where the
first `units mod layers` layers in model order take the larger rank.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

from poc_cli.methods import lora
from poc_cli.methods.lora import FITTED, FROZEN_BASE, QUANTIZABLE, SAVES, TRAINS, LoraSpec, implementation

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

__all__ = ["FITTED", "FROZEN_BASE", "QUANTIZABLE", "SAVES", "SPEC", "TRAINS", "apply", "count", "fit", "implementation", "settings"]


class DoraSpec(LoraSpec):
    """DoRA's recipe entry: LoRA's fields."""

    # DoRA's paper trains at LoRA's rates (Liu et al. 2024, Sec. 5).
    DEFAULT_LR: ClassVar[float] = 5e-3
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (1e-3, 2e-3, 5e-3, 1e-2)}

    method: Literal["dora"]  # type: ignore[assignment]


SPEC = DoraSpec


def ranks(arch: Architecture, r: float) -> list[int]:
    """Each targeted layer's rank at mean rank r."""
    base, extra = divmod(round(r * len(arch.layers)), len(arch.layers))
    return [base + (index < extra) for index in range(len(arch.layers))]


def count(arch: Architecture, r: float, spec: DoraSpec | None = None) -> int:
    """LoRA's adapters at each layer's rank plus one magnitude per output feature."""
    del spec
    return sum(k * (layer.in_features + layer.out_features) + layer.out_features
               for k, layer in zip(ranks(arch, r), arch.layers))


def fit(arch: Architecture, target: int, spec: DoraSpec | None = None) -> float:
    """The mean rank whose count is closest to `target` (at least 1 per layer): the count rises with
    each unit of rank, so the closest is found by bisection over the units."""
    del spec
    layers = len(arch.layers)
    low, high = layers, layers * max(layer.min_dim for layer in arch.layers)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(arch, middle / layers) <= target else (low, middle)
    units = min((low, high), key=lambda u: (abs(count(arch, u / layers) - target), u))
    return units // layers if units % layers == 0 else units / layers


def settings(spec: DoraSpec, r: float) -> dict[str, float | int | bool]:
    """LoRA's settings at the mean rank, shown to three decimals (the exact rank is the allocation's r)."""
    return {"r": round(r, 3), "alpha": round(spec.alpha_ratio * r, 3), "dropout": spec.dropout}


def apply(model: nn.Module, *, spec: DoraSpec, r: float, arch: Architecture, seed: int) -> nn.Module:
    """LoRA with DoRA's magnitudes on the targeted layers, the first layers one rank above the rest
    (each layer's alpha follows its rank, so alpha / r is the same everywhere)."""
    each = ranks(arch, r)
    base = min(each)
    larger = [layer.name for k, layer in zip(each, arch.layers) if k > base]
    return lora.apply(model, spec=spec, r=base, arch=arch, seed=seed, use_dora=True,
                      rank_pattern={re.escape(name): base + 1 for name in larger},
                      alpha_pattern={re.escape(name): spec.alpha_ratio * (base + 1) for name in larger})
