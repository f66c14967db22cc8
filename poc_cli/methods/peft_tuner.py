"""Any other peft tuner (`method: peft`, e.g. LoHa, LoKr, OFT, FourierFT), sized by one integer field.

Nothing about the tuner is written down here: its count is *measured*, by applying its config to
the model's skeleton (meta device, no weights) and counting what peft marks trainable, so it is
peft's count by construction. The knob is then searched for the count closest to the budget:
doubling until the count crosses it (counts may rise or fall with the knob), then bisecting.
Knob values peft refuses (OFT's blocks must divide every layer) are skipped. A tuner without a
knob runs at its own count, off the budget.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from collections.abc import Callable

from torch import nn

from poc_cli.modelhub import Architecture
from poc_cli.peft_configs import build
from poc_cli.recipe import PeftSpec

FITTED = True
TRAINS = True
# peft runs only some tuners on a 4- or 8-bit base; poc refuses quantization for them up front
# rather than fail in the middle of a run.
FROZEN_BASE = False
SAVES = "adapter"
LARGEST_KNOB = 2**20  # the doubling stops here (FourierFT's n_frequency reaches ~1e6 on large layers)

_counts: dict[tuple[object, ...], int | None] = {}


def _key(arch: Architecture, spec: PeftSpec, value: int | None) -> tuple[object, ...]:
    return (id(arch.skeleton), arch.layers, spec.config, spec.knob, json.dumps(spec.options, sort_keys=True), value)


def _measure(arch: Architecture, spec: PeftSpec, value: int | None) -> int:
    """What peft counts as trainable once the tuner wraps a copy of the skeleton (the head left out)."""
    from peft import get_peft_model

    if arch.skeleton is None:
        raise ValueError("the model's skeleton is needed to count a peft tuner")
    config = build(spec.config, spec.knob, value, spec.options, targets=[layer.name for layer in arch.layers],
                   head=())
    quiet = logging.getLogger("peft")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wrapped = get_peft_model(copy.deepcopy(arch.skeleton), config, low_cpu_mem_usage=True)
    finally:
        quiet.setLevel(level)
    return int(wrapped.get_nb_trainable_parameters()[0])


def count(arch: Architecture, r: int | None, spec: PeftSpec | None = None) -> int:
    """peft's own count of the tuner's trainable parameters with its knob at `r` (None: its default)."""
    assert spec is not None, "a peft tuner is counted from its spec"
    key = _key(arch, spec, r)
    if key not in _counts:
        try:
            _counts[key] = _measure(arch, spec, r)
        except (TypeError, ValueError, RuntimeError, AssertionError) as error:
            _counts[key] = None
            raise ValueError(f"{spec.config} with {spec.knob}={r}: {error}") from None
    value = _counts[key]
    if value is None:
        raise ValueError(f"{spec.config} does not accept {spec.knob}={r} on this model")
    return value


def _bracket(counted: Callable[[int], int | None], target: int) -> tuple[int, int] | None:
    """Two knob values whose counts lie on either side of `target`, found by doubling."""
    last: tuple[int, int] | None = None
    value = 1
    while value <= LARGEST_KNOB:
        n = counted(value)
        if n is not None:
            if n == target:
                return value, value
            if last is not None and (last[1] - target) * (n - target) < 0:
                return last[0], value
            last = (value, n)
        value *= 2
    return None


def fit(arch: Architecture, target: int, spec: PeftSpec | None = None) -> int | None:
    """The knob value whose count is closest to `target` (ties: the smaller value); None without a knob."""
    assert spec is not None, "a peft tuner is fitted from its spec"
    if spec.knob is None:
        return None
    seen: dict[int, int | None] = {}

    def counted(value: int) -> int | None:
        if value not in seen:
            try:
                seen[value] = count(arch, value, spec)
            except ValueError:
                seen[value] = None
        return seen[value]

    bracket = _bracket(counted, target)
    if bracket is not None:
        low, high = bracket
        below = (counted(low) or 0) < target
        while high - low > 1:
            middle = (low + high) // 2
            valid = next((v for v in _near(middle, low, high) if counted(v) is not None), None)
            if valid is None:
                break
            if ((counted(valid) or 0) < target) == below:
                low = valid
            else:
                high = valid
    valid = [(abs(n - target), v) for v, n in seen.items() if n is not None]
    if not valid:
        raise ValueError(f"{spec.config}: no value of {spec.knob} from 1 to {LARGEST_KNOB:,} is accepted on "
                         "this model")
    return min(valid)[1]


def _near(middle: int, low: int, high: int) -> list[int]:
    """Values strictly between low and high, nearest to `middle` first."""
    out = []
    for step in range(high - low):
        for value in (middle - step, middle + step):
            if low < value < high and value not in out:
                out.append(value)
        if len(out) >= 8:  # enough tries: past them, the closest accepted value is already counted
            break
    return out


def settings(spec: PeftSpec, r: int | None) -> dict[str, object]:
    """The tuner, its knob's fitted value and its options, as shown in plans and records."""
    knob = {spec.knob: r} if spec.knob is not None else {}
    return {"config": spec.config, **knob, **spec.options}


def implementation(model: nn.Module) -> str:
    """What computes the adapted layers (for the record)."""
    del model
    return "peft"


def apply(model: nn.Module, *, spec: PeftSpec, r: int | None, arch: Architecture, seed: int) -> nn.Module:
    """Wrap `model` with the tuner at knob value `r` on the targeted layers; the head trains fully."""
    from peft import get_peft_model  # 1.6 s to import: only in the job that trains

    del seed  # tuners that draw at random do so from torch's global RNG, which the job has seeded
    config = build(spec.config, spec.knob, r, spec.options, targets=[layer.name for layer in arch.layers],
                   head=arch.head_modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(model, config)
