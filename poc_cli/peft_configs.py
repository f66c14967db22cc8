"""Any peft tuner by its config class name: which names are tuners, which fields can size them,
and the config a job builds.

A recipe names the class (`LoHaConfig`), the integer field that sizes it (`knob: r`) and its
other options. Each is checked against peft itself, so a typo or an option peft rejects stops
`poc plan` with one line, not a job an hour later. peft is imported here only when a recipe
uses `method: peft` (1.6 s).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from poc_cli.errors import clip, first_line

# poc sets these itself: the layers come from `target_modules`, the head from the task.
SET_BY_POC = ("target_modules", "modules_to_save", "task_type", "inference_mode")
# Pairs peft takes one of, not both, whose default would conflict with the knob: where the recipe leaves the
# partner unset, poc sets it to 0 ("derived from the knob") and the plan says so. Found by the walk over every
# tuner peft ships (tests/test_every_tuner.py).
PARTNERS: dict[tuple[str, str], tuple[str, str]] = {
    ("OFTConfig", "r"): ("oft_block_size", "peft takes r or oft_block_size, not both; r is the knob"),
    ("BOFTConfig", "boft_block_num"): ("boft_block_size", "peft takes boft_block_num or boft_block_size, not both; "
                                                          "boft_block_num is the knob"),
}


def cleared(name: str, knob: str | None, options: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(field, value, why) of each default poc clears for the knob, where the recipe does not set it."""
    partner = PARTNERS.get((name, knob or ""))
    return [] if partner is None or partner[0] in options else [(partner[0], 0, partner[1])]


def tuner_class(name: str) -> type:
    """The peft config class `name`, if it is a tuner that adapts a model's layers."""
    import peft
    from peft.utils import PeftType

    cls = getattr(peft, name, None)
    tuners = {peft.PEFT_TYPE_TO_CONFIG_MAPPING[t] for t in PeftType if t in peft.PEFT_TYPE_TO_CONFIG_MAPPING}
    if not isinstance(cls, type) or cls not in tuners:
        known = sorted(c.__name__ for c in tuners if _adapts_layers(c))
        raise ValueError(f"config: {clip(name, 40)!r} is not a peft tuner config; peft {peft.__version__} has "
                         + ", ".join(known))
    if not _adapts_layers(cls):
        raise ValueError(f"config: {name} does not adapt layers beside a trained head (a prompt or token "
                         "method); poc compares tuners that adapt the targeted layers")
    return cls


def _adapts_layers(cls: type) -> bool:
    return {"target_modules", "modules_to_save"} <= set(_fields(cls))


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def integer_fields(cls: type) -> list[str]:
    """The config's fields whose default is an integer (not a flag): what can size a tuner."""
    return [f.name for f in dataclasses.fields(cls) if type(f.default) is int and f.name not in SET_BY_POC]


def check_tuner(name: str, knob: str | None, options: dict[str, Any]) -> None:
    """Raise ValueError naming the field when peft would not accept the tuner as written."""
    cls = tuner_class(name)
    if knob is not None and knob not in integer_fields(cls):
        raise ValueError(f"knob: {clip(knob, 40)!r} is not an integer field of {name}; "
                         f"its integer fields are {', '.join(integer_fields(cls)) or 'none'}")
    for key in options:
        if key in SET_BY_POC or key == knob:
            raise ValueError(f"options.{clip(str(key), 40)}: poc sets it itself"
                             + (" (the knob is fitted to the budget)" if key == knob else ""))
        if key not in _fields(cls):
            raise ValueError(f"options.{clip(str(key), 40)}: {name} has no such option")
        problem = _wrong_type(_fields(cls)[key], options[key])
        if problem is not None:
            raise ValueError(f"options.{clip(str(key), 40)}: {name} takes {problem}")
    # The knob is fitted later; here it takes its default, or 1 where the default (0) means "unset".
    placeholder = (_fields(cls)[knob].default or 1) if knob is not None else None
    try:
        build(name, knob, placeholder, options, targets=["dense"], head=())
    except (TypeError, ValueError) as error:
        raise ValueError(f"options: {refused(name, None, None, error)}") from None


def _wrong_type(field: dataclasses.Field, value: Any) -> str | None:
    """What kind of value a field takes, where `value` is not one (judged by the field's default: peft's
    configs do not check types, so `alpha: "eight"` would fail only inside the first layer it builds)."""
    default = field.default
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"true or false (default {default}), not {value!r}"
    if isinstance(default, (int, float)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number else f"a number (default {default}), not {clip(repr(value), 40)}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"text (default {default!r}), not {clip(repr(value), 40)}"
    return None


def refused(name: str, knob: str | None, value: int | None, error: BaseException) -> str:
    """peft's refusal of a tuner as poc says it, everywhere one shows: which config, at which knob value, and
    peft's own first line (the real cause, not poc's guess)."""
    where = f" with {knob}={value}" if knob is not None and value is not None else ""
    return f"{name}{where}: peft refused it ({type(error).__name__}: {clip(first_line(error), 200)})"


def build(name: str, knob: str | None, value: int | None, options: dict[str, Any], *, targets: list[str],
          head: tuple[str, ...]) -> Any:
    """The peft config of one job: the recipe's options, the knob at `value`, poc's layers and head."""
    settings = {field: cleared_to for field, cleared_to, _ in cleared(name, knob, options)} | dict(options)
    if knob is not None and value is not None:
        settings[knob] = value
    with warnings.catch_warnings():  # configs warn about defaults they change (BOFT's butterfly factor)
        warnings.simplefilter("ignore")
        return tuner_class(name)(**settings, target_modules=targets, modules_to_save=list(head) or None)
