"""Any other peft tuner (`method: peft`, e.g. LoHa, LoKr, OFT, FourierFT), sized by one integer field.

Nothing about the tuner is written down here: its count is *measured*, by applying its config to
the model's skeleton (meta device, no weights) and counting what peft marks trainable, so it is
peft's count by construction. The knob is then searched for the count closest to the budget: from
where the counts at 1 and 2 point, out by doubling steps until two counts straddle the budget
(counts may rise or fall with the knob), then between them, interpolating and bisecting in turn.
Knob values peft refuses (OFT's blocks must divide every layer) are skipped. A tuner without a
knob runs at its own count, off the budget.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from poc_cli.methods.lora import LoraSpec
from poc_cli import tuner_count
from poc_cli.peft_configs import build, check_tuner, cleared
from poc_cli.specs import MethodSpecBase

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture

# Each tuner's centre rate: LoRA's default, unless a source tuned the tuner far from LoRA's rate. peft's
# method_comparison (MetaMathQA on Llama-3.2-3B, huggingface/peft; LoRA there trains at 1e-4): C3A 3e-1,
# HiRA 4.5e-3 (45x its LoRA), LoKr 3e-3 (30x), IA3 5e-3; peft's FourierFT example 6e-2; DeLoRA's issue
# tracker: 10 to 100 times LoRA's rate. SHiRA (3e-4) and GraLoRA (2e-4) train within 3x of LoRA there.
TUNER_LR: dict[str, float] = {"C3AConfig": 2e-1, "FourierFTConfig": 5e-2, "IA3Config": 5e-3, "HiraConfig": 5e-2,
                              "DeloraConfig": 5e-2, "LoKrConfig": 1e-2}
# The search grid spans two decades around the centre, log-spaced: at PoC sizes a tuner's best rate can sit
# 10x from the source's, and the search adds trials beyond either end where the best lies there (edges.py).
GRID_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)


def tuner_label(config: str) -> str:
    """A peft tuner's default name in tables and the store: its config class, lower case, without "Config"."""
    return config.removesuffix("Config").lower()


class PeftSpec(MethodSpecBase):
    """Any other peft tuner by its config class (`LoHaConfig`, `LoKrConfig`, `OFTConfig`, ...): its count is
    measured by peft itself on the model's skeleton, and the integer field `knob` is searched for the
    setting closest to the budget. Without a knob it runs at its own count, off the budget."""

    DEFAULT_LR: ClassVar[float] = LoraSpec.DEFAULT_LR
    GRID: ClassVar[dict[str, tuple[float, ...]]] = LoraSpec.GRID

    method: Literal["peft"]
    config: str = Field(min_length=1, max_length=64)
    knob: str | None = Field(default=None, min_length=1, max_length=64)
    options: dict[str, Any] = Field(default_factory=dict)
    off_budget: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _a_peft_tuner(self) -> PeftSpec:
        check_tuner(self.config, self.knob, self.options)  # imports peft (1.6 s): only for recipes that use it
        return self

    @property
    def label(self) -> str:
        """The user's `name`, else the tuner's name (`LoHaConfig`: loha)."""
        return self.name or tuner_label(self.config)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else TUNER_LR.get(self.config, self.DEFAULT_LR)

    @property
    def default_lrs(self) -> tuple[float, ...]:
        """Two decades around the tuner's centre rate (`TUNER_LR`, else LoRA's default), log-spaced."""
        centre = TUNER_LR.get(self.config, self.DEFAULT_LR)
        return tuple(float(f"{centre * factor:.2g}") for factor in GRID_FACTORS)


SPEC = PeftSpec

FITTED = True
TRAINS = True
FROZEN_BASE = True  # every tuner trains its own parameters beside the frozen base
# peft runs only some tuners on a 4- or 8-bit base; poc refuses quantization for them up front
# rather than fail in the middle of a run.
QUANTIZABLE = False
SAVES = "adapter"
LARGEST_KNOB = 2**20  # the doubling stops here (FourierFT's n_frequency reaches ~1e6 on large layers)
HILL_STEPS = 64  # out of reach: the most single steps taken from the closest probe towards the budget
FLAT_AFTER = 7  # equal counts at this many knob values (1 to 64) mean the knob does not size the tuner


def count(arch: Architecture, r: int | None, spec: PeftSpec | None = None) -> int:
    """peft's own count of the tuner's trainable parameters with its knob at `r` (None: its default)."""
    assert spec is not None, "a peft tuner is counted from its spec"
    return tuner_count.count(arch, spec, r).trainable


def notes(arch: Architecture, spec: PeftSpec, r: int | None) -> list[str]:
    """What the plan says of how the tuner was sized: a field poc cleared for the knob, a count made on
    the CPU because peft cannot build the tuner on the meta device."""
    out = [f"{spec.label}: poc sets {field}: {value} ({why})" for field, value, why in cleared(spec.config, spec.knob,
                                                                                           spec.options)]
    if tuner_count.count(arch, spec, r).on == tuner_count.ON_CPU:
        out.append(f"{spec.label}: counted on the targeted layers materialised on the CPU with random weights "
                   f"(peft cannot build {spec.config} on the meta device); the job checks the count on the real "
                   "weights")
    return out


def _bracket(counted: Callable[[int], int | None], target: int) -> tuple[int, int] | None:
    """Two knob values whose counts lie on either side of `target` (the same value twice: one hits it).

    The walk starts where a straight line through the counts at 1 and 2 reaches the target (for the
    many tuners whose count is linear in the knob that is the answer, in three counts) and moves out
    from there by doubling steps, up and down, so a count that is not linear still gets bracketed."""
    n1, n2 = counted(1), counted(2)
    start = 1
    if n1 is not None and n2 is not None and n1 != n2:
        start = min(max(1, round(1 + (target - n1) / (n2 - n1))), LARGEST_KNOB)
    # The guess's neighbours come first: where the count is linear they bracket it at once.
    steps = [start + 1, start - 1] + [start * 2**k for k in range(1, 21)] + [start // 2**k for k in range(1, 21)]
    candidates = sorted({1, 2, start, *(v for v in steps if 1 <= v <= LARGEST_KNOB)},
                        key=lambda v: (abs(v - start) > 1, abs(math.log2(v / start)), v))
    seen: dict[int, int] = {}
    for value in candidates:
        n = counted(value)
        if n is None:
            continue
        if n == target:
            return value, value
        seen[value] = n
        if len(seen) >= FLAT_AFTER and len(set(seen.values())) == 1:
            return None  # the knob does not size the tuner: `_check_counts` says so
        ordered = sorted(seen.items())
        for (a, na), (b, nb) in zip(ordered, ordered[1:]):
            if (na - target) * (nb - target) < 0:
                return a, b
    return None


def _narrow(counted: Callable[[int], int | None], low: int, high: int, target: int) -> None:
    """Count values between a bracket's ends until they are neighbours: interpolation and bisection in
    turn (interpolation lands at once where the count is linear, bisection bounds the rest)."""
    below = (counted(low) or 0) < target
    interpolate = True
    while high - low > 1:
        n_low, n_high = counted(low) or 0, counted(high) or 0
        middle = _between(low, high, n_low, n_high, target) if interpolate else (low + high) // 2
        interpolate = not interpolate
        valid = next((v for v in _near(middle, low, high) if counted(v) is not None), None)
        if valid is None or counted(valid) == target:
            return
        if ((counted(valid) or 0) < target) == below:
            low = valid
        else:
            high = valid


def _climb(counted: Callable[[int], int | None], closest: Callable[[], int], best: int) -> int:
    """Out of reach: the probes skipped values, so step from the closest one while a neighbour is closer."""
    for _ in range(HILL_STEPS):
        for step in (-1, 1):
            if best + step >= 1:
                counted(best + step)
        if closest() == best:
            break
        best = closest()
    return best


def fit(arch: Architecture, target: int, spec: PeftSpec | None = None) -> int | None:
    """The knob value whose count is closest to `target` (ties: the smaller value); None without a knob."""
    assert spec is not None, "a peft tuner is fitted from its spec"
    if spec.knob is None:
        return None
    seen: dict[int, int | None] = {}
    refusals: dict[int, str] = {}

    def counted(value: int) -> int | None:
        if value not in seen:
            try:
                seen[value] = count(arch, value, spec)
            except tuner_count.Refused as refusal:  # OFT's blocks must divide every layer: a value is skipped
                seen[value], refusals[value] = None, str(refusal)
        return seen[value]

    def closest() -> int:
        return min((abs(n - target), v) for v, n in seen.items() if n is not None)[1]

    bracket = _bracket(counted, target)
    if bracket is not None:
        _narrow(counted, *bracket, target)
    _check_counts(arch, spec, seen, refusals)
    if bracket is not None:
        return closest()
    _to_refusals(counted, seen)
    return _climb(counted, closest, closest())


def _to_refusals(counted: Callable[[int], int | None], seen: dict[int, int | None]) -> None:
    """Where accepted values meet refused ones (FourierFT's n_frequency stops at a layer's size), bisect to
    the last accepted value: a count that cannot reach the budget comes closest there."""
    ordered = sorted(seen)
    for low, high in [(a, b) for a, b in zip(ordered, ordered[1:]) if (seen[a] is None) != (seen[b] is None)]:
        low_refused = seen[low] is None
        while high - low > 1:
            middle = (low + high) // 2
            if (counted(middle) is None) == low_refused:
                low = middle
            else:
                high = middle


def _check_counts(arch: Architecture, spec: PeftSpec, seen: dict[int, int | None], refusals: dict[int, str]) -> None:
    """Say why no value could be fitted, in peft's words: every value refused (for one reason: that
    reason; for several: the first, and that each value was refused), or a knob that does not change
    the count at all (LoHa's `alpha` scales the update, it does not size it)."""
    if all(n is None for n in seen.values()):
        reasons = list(dict.fromkeys(message.split(": peft refused it ", 1)[-1] for message in refusals.values()))
        tried = f"{len(seen)} values of {spec.knob} from {min(seen)} to {max(seen):,}"
        if len(reasons) == 1:
            raise ValueError(f"{spec.config}: peft refused it at every one of {tried}, always {reasons[0]}")
        raise ValueError(f"{next(iter(refusals.values()))}; it refused all {tried}")
    counts = {n for n in seen.values() if n is not None}
    if len(counts) == 1 and len(seen) > 2:
        movers = _sizing_fields(arch, spec)
        instead = (f"name one that does: {', '.join(movers)}" if movers else "none of its integer fields does: run it "
                   "without a knob, at its own count (off the budget)")
        raise ValueError(f"knob: {spec.knob} does not change {spec.config}'s trainable count ({counts.pop():,} at "
                         f"every one of {len(seen)} values tried): it cannot be fitted to the budget; {instead}")


def _sizing_fields(arch: Architecture, spec: PeftSpec) -> list[str]:
    """The config's other integer fields whose value changes the count (tried at their default and twice it)."""
    from poc_cli.peft_configs import integer_fields, tuner_class

    out, defaults = [], tuner_class(spec.config)()
    for name in integer_fields(type(defaults)):
        if name == spec.knob or name in spec.options:
            continue
        default = getattr(defaults, name, 0) or 0
        counts = set()
        for value in (max(default, 1), max(2 * default, 2)):
            try:
                counts.add(count(arch, None, spec.model_copy(update={"options": {**spec.options, name: value}})))
            except tuner_count.Refused:
                counts.add(None)
        if len(counts) > 1 and None not in counts:
            out.append(name)
    return out


def _between(low: int, high: int, n_low: int, n_high: int, target: int) -> int:
    """Where the count would reach `target` if it were linear between the two ends."""
    guess = low + round((target - n_low) * (high - low) / (n_high - n_low)) if n_high != n_low else (low + high) // 2
    return min(max(guess, low + 1), high - 1)


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
    """The tuner, its knob's fitted value, the fields poc cleared for the knob and the recipe's options, as
    shown in plans and records."""
    knob = {spec.knob: r} if spec.knob is not None else {}
    poc_set = {field: value for field, value, _ in cleared(spec.config, spec.knob, spec.options)}
    return {"config": spec.config, **knob, **poc_set, **spec.options}


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
