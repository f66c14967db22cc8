"""Registry of fine-tuning methods: a plain dict from recipe name to module.

Every method module provides `settings(spec, ...)` (the resolved configuration shown in
plans and records) and `apply(model, *, spec, r, arch, seed)` (the model ready to train).
PEFT methods (those fitted to a budget) also provide:
  count(layers, r) -> int        adapter parameters at setting r (exact, as peft counts)
  fit(layers, target) -> int     the r whose count is closest to `target`
`full` provides count(arch): every parameter outside the head.
"""

from __future__ import annotations

from types import ModuleType

from poc_cli.methods import full, lora, randlora

METHODS: dict[str, ModuleType] = {"lora": lora, "randlora": randlora, "full": full}


def get_method(name: str) -> ModuleType:
    """The method module for `name`; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(METHODS)}") from None
