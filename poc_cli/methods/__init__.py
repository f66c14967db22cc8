"""Registry of fine-tuning methods: a plain dict from the recipe's `method` to its module.

Every method module provides the same interface, full fine-tuning and the zero-shot
reference included, so no caller branches on a method's name:
  FITTED: bool                   fitted to the budget (its count is checked against it)
  TRAINS: bool                   whether the job trains at all (False: score the pretrained model)
  FROZEN_BASE: bool              the pretrained weights stay frozen (loaded in the compute dtype under a mixed
                                 precision; False: fp32 master weights of every parameter)
  QUANTIZABLE: bool              the base may be 4- or 8-bit (peft has quantized layers for it)
  SAVES: str | None              "adapter" (kept in the store), "model" (size measured, not kept), None
  count(arch, r, spec) -> int    parameters it trains outside the head, at setting r (exact, as peft counts)
  fit(arch, target, spec) -> r   the setting r whose count is closest to `target` (None: no setting)
  settings(spec, r) -> dict      the resolved configuration shown in plans and records
  apply(model, *, spec, r, arch, seed) -> model ready to train
  implementation(model) -> str   what really computes the adapted layers of the built model (for the record)
  SPEC                           its recipe entry, beside what it does (a config-and-class pair): a pydantic
                                 class with its `method` literal, fields, DEFAULT_LR and GRID (with sources)
A method may also have, where it applies:
  frozen(arch, r) -> int         parameters of frozen matrices it adds to memory (VeRA's shared projections)
  variants(spec) -> [(name, spec)]  what `poc profile` measures of it, the recipe's own first (RandLoRA's bases)
  notes(arch, spec, r) -> [str]  what the plan says of how it was sized (a peft tuner counted on the CPU)
  unsupported() -> str | None    why the installed libraries cannot run it (`poc doctor`)
  NO_CONVOLUTIONS: str           why it adapts no convolution (refused where the targets include one)
  COLOUR: str                    its colour in charts (else one from a palette, by a hash of its name)
  MODEL_FREE, forecast(...)      a reference that needs no neural model (the classical forecasts): the
                                 worker fits `forecast` on each test series instead (model_free.py)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from poc_cli.methods import classical, dora, full, lora, olora, peft_tuner, pissa, randlora, rslora, vera, zero_shot

# The untrained reference rows: "zero-shot" where the task scores classes (CLIP), "untuned" for generation;
# a forecasting recipe's classical rows (statsforecast's AutoETS, AutoARIMA, AutoTheta).
METHODS: dict[str, ModuleType] = {"lora": lora, "dora": dora, "rslora": rslora, "pissa": pissa, "olora": olora,
                                  "randlora": randlora, "vera": vera, "peft": peft_tuner, "full": full,
                                  "zero-shot": zero_shot, "untuned": zero_shot,
                                  **{name: classical for name in classical.MODELS}}


# What a recipe's `methods` entries may be, one spec per method module (the reference row is the plan's).
RECIPE_SPECS = tuple(dict.fromkeys(m.SPEC for m in METHODS.values() if m.TRAINS))


def stored_label(entry: dict[str, Any]) -> str:
    """The label of a method as a stored recipe writes it (a record's `job.recipe.methods` entry), read
    without validating it again (an old record's entry may name a tuner this peft lacks)."""
    module = METHODS.get(str(entry.get("method")))
    if entry.get("name") or module is None:
        return str(entry.get("name") or entry.get("method"))
    return module.SPEC.model_construct(**entry).label


def trains(kind: str) -> bool:
    """Whether rows of this method kind trained (False: an untrained reference, or the computed trivial row)."""
    return kind in METHODS and METHODS[kind].TRAINS


def get_method(name: str) -> ModuleType:
    """The method module for `name`; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(METHODS)}") from None
