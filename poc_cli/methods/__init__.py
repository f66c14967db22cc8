"""Registry of fine-tuning methods: a plain dict from the recipe's `method` to its module.

Every method module provides the same interface, full fine-tuning and the zero-shot
reference included, so no caller branches on a method's name:
  FITTED: bool                   fitted to the budget (its count is checked against it)
  TRAINS: bool                   whether the job trains at all (False: score the pretrained model)
  FROZEN_BASE: bool              the pretrained weights stay frozen (so they may be quantized)
  SAVES: str | None              "adapter" (kept in the store), "model" (size measured, not kept), None
  count(arch, r, spec) -> int    parameters it trains outside the head, at setting r (exact, as peft counts)
  fit(arch, target, spec) -> r   the setting r whose count is closest to `target` (None: no setting)
  settings(spec, r) -> dict      the resolved configuration shown in plans and records
  apply(model, *, spec, r, arch, seed) -> model ready to train
A method may also say what it adds to memory without training it:
  frozen(arch, r) -> int         parameters of frozen matrices it adds (VeRA's shared projections)
  implementation(model) -> str   what really computes the adapted layers of the built model (for the record)
"""

from __future__ import annotations

from types import ModuleType

from poc_cli.methods import dora, full, lora, olora, peft_tuner, pissa, randlora, rslora, vera, zero_shot

# The untrained reference row: "zero-shot" where the task scores classes (CLIP), "untuned" for generation.
METHODS: dict[str, ModuleType] = {"lora": lora, "dora": dora, "rslora": rslora, "pissa": pissa, "olora": olora,
                                  "randlora": randlora, "vera": vera, "peft": peft_tuner, "full": full, "zero-shot": zero_shot, "untuned": zero_shot}


def trains(kind: str) -> bool:
    """Whether rows of this method kind trained (False: an untrained reference, or the computed trivial row)."""
    return kind in METHODS and METHODS[kind].TRAINS


def get_method(name: str) -> ModuleType:
    """The method module for `name`; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(METHODS)}") from None
