"""LoRA (peft `LoraConfig`): update B A of rank r, r * (in + out) parameters per layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from poc_cli.specs import AlphaRatio, MethodSpecBase, Number, Rank

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture


class LoraSpec(MethodSpecBase):
    """LoRA's recipe entry: rank `r` fitted to the budget unless given; lora_alpha = alpha_ratio * r. Its
    variants (DoRA, rsLoRA, PiSSA, OLoRA) take the same fields under their own `method` and defaults."""

    # Chosen from the learning-rate trials in docs/measurements.md ("Where the defaults come from"); the
    # grid is spaced about 2x around the default. They matter more than anything else at PoC sizes.
    DEFAULT_LR: ClassVar[float] = 5e-3
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (1e-3, 2e-3, 5e-3, 1e-2)}

    method: Literal["lora"]
    r: Rank | None = None
    alpha_ratio: AlphaRatio = 2.0
    dropout: Number = Field(default=0.0, ge=0, lt=1)


SPEC = LoraSpec

FITTED = True
TRAINS = True
FROZEN_BASE = True  # trains adapters beside frozen weights
QUANTIZABLE = True  # so the base may be 4- or 8-bit (QLoRA)
SAVES = "adapter"
COLOUR = "#1f77b4"  # in every chart


def count(arch: Architecture, r: int, spec: LoraSpec | None = None) -> int:
    """Adapter parameters of LoRA at rank r (bias 'none')."""
    del spec
    return sum(r * (layer.in_features + layer.out_features) for layer in arch.layers)


def fit(arch: Architecture, target: int, spec: LoraSpec | None = None) -> int:
    """The rank whose count is closest to `target` (count is linear in r)."""
    del spec
    per_rank = count(arch, 1)
    return max(1, round(target / per_rank))


def settings(spec: LoraSpec, r: int) -> dict[str, float | int | bool]:
    """The resolved configuration shown in plans and stored in records."""
    return {"r": r, "alpha": spec.alpha_ratio * r, "dropout": spec.dropout}


def implementation(model: nn.Module) -> str:
    """What computes the adapted layers (for the record)."""
    del model
    return "peft"


def apply(model: nn.Module, *, spec: LoraSpec, r: int, arch: Architecture, seed: int, **variant: Any) -> nn.Module:
    """Wrap `model` with LoRA on the targeted layers; the head trains fully. `variant`: the LoraConfig
    options a LoRA variant sets (use_dora, use_rslora, init_lora_weights)."""
    from peft import LoraConfig, get_peft_model  # 1.6 s to import: only in the job that trains

    del seed  # LoRA's A is drawn from torch's global RNG, which the job has seeded.
    config = LoraConfig(
        **variant,
        r=r,
        lora_alpha=spec.alpha_ratio * r,
        lora_dropout=spec.dropout,
        target_modules=[layer.name for layer in arch.layers],
        modules_to_save=list(arch.head_modules),
        fan_in_fan_out=all(layer.conv1d for layer in arch.layers),
        bias="none",
    )
    return get_peft_model(model, config)
