"""How many GPUs one job of each method spans: what the recipe asks, or `auto` sized by arithmetic.

A plan cannot load an 8B model to see whether it fits a GPU, but it knows every count and dtype
(`state_memory`): the weights, gradients, AdamW's moments and autocast's kept copies a job holds
before any activation. A job across N GPUs shards them N ways (FSDP2 shards parameters, gradients
and optimizer state alike), except the frozen bases a method shares between layers (RandLoRA's,
VeRA's), which are buffers every GPU holds whole; under a mixed precision FSDP2 gathers each block in
the compute dtype for its forward and backward only, so the kept copies are counted for one GPU
alone. `auto` takes the fewest GPUs at which that fits in `HEADROOM` of one GPU's memory; the rest
is left for activations, the blocks being gathered, the CUDA context and the allocator. Where a plan
is made on the GPU machine, the warm-up (`poc plan`) measures the one-GPU case too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from poc_cli.errors import RecipeError
from poc_cli.hardware import Facts
from poc_cli.methods import get_method
from poc_cli.recipe import Recipe
from poc_cli.state_memory import StateMemory

MIB = 2**20
HEADROOM = 0.8  # of a GPU's memory for what the arithmetic counts; the rest for activations and the CUDA context
MAX_GPUS = 64  # as `gpus_per_job` allows


@dataclass(frozen=True)
class Sizing:
    """One method's GPUs per job, how they were decided, and what each GPU holds before activations."""

    label: str
    gpus: int  # processes the job runs as: one per GPU (on a CPU, processes on its cores)
    how: str  # "recipe" (asked for), "arithmetic" (`auto` against a GPU's memory), "no GPU" (`auto` on a CPU)
    per_gpu_bytes: float  # weights, gradients, AdamW state (and kept copies) per GPU at `gpus`
    capacity_mib: float | None  # the GPU's memory it was sized against (None: no GPU to size for)
    needed: int | None  # what the arithmetic asks for (None: no GPU, or not even MAX_GPUS fit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_gpu_bytes(state: StateMemory, gpus: int) -> float:
    """What each of `gpus` GPUs holds of a job's weights, gradients and optimizer state."""
    if gpus == 1:
        return state.total_bytes
    sharded = state.frozen_bytes + state.trained_bytes + state.gradient_bytes + state.optimizer_bytes
    return sharded / gpus + state.method_frozen_bytes


def needed(state: StateMemory, capacity_mib: float) -> int | None:
    """The fewest GPUs at which each holds at most HEADROOM of `capacity_mib`; None where MAX_GPUS do not."""
    usable = capacity_mib * MIB * HEADROOM
    return next((n for n in range(1, MAX_GPUS + 1) if per_gpu_bytes(state, n) <= usable), None)


def _asked(recipe: Recipe, index: int) -> tuple[int | str, str]:
    """The method's own `gpus_per_job`, else the training section's, with the field that set it."""
    own = recipe.methods[index].gpus_per_job
    if own is not None:
        return own, f"methods.{index}.gpus_per_job"
    return recipe.training.gpus_per_job, "training.gpus_per_job"


def size(recipe: Recipe, states: Sequence[StateMemory], found: Facts) -> tuple[Sizing, ...]:
    """Each method's sizing (`states` in the recipe's method order), checked against the machine the jobs
    run on (`found`): RecipeError names the field where a job needs more GPUs than it has, or where a
    setting cannot run across GPUs."""
    sizings = []
    for index, state in enumerate(states[:len(recipe.methods)]):
        asked, field = _asked(recipe, index)
        capacity = found.gpu_memory_mib
        need = needed(state, capacity) if capacity is not None else None
        if not get_method(recipe.methods[index].method).TRAINS:
            gpus, how = 1, "recipe"  # nothing trains: nothing to shard
        elif asked == "auto":
            if capacity is not None and need is None:
                raise RecipeError(f"{field}: auto: {state.label} would need more than {MAX_GPUS} GPUs of "
                                  f"{capacity / 1024:,.0f} GiB per job")
            gpus, how = (need, "arithmetic") if need is not None else (1, "no GPU")
        else:
            gpus, how = int(asked), "recipe"
        if gpus > 1:
            _check_across(recipe, field, state.label, gpus, found)
        sizings.append(Sizing(state.label, gpus, how, per_gpu_bytes(state, gpus), capacity, need))
    return tuple(sizings)


def _check_across(recipe: Recipe, field: str, label: str, gpus: int, found: Facts) -> None:
    """What a job across `gpus` GPUs needs of the recipe and the machine."""
    if recipe.training.quantization != "none":
        raise RecipeError(f"{field}: {label} across {gpus} GPUs: FSDP2 cannot shard a {recipe.training.quantization} "
                          "base (bitsandbytes' layers); use one GPU per job or quantization: none")
    if recipe.training.precision == "fp16-mixed":
        raise RecipeError(f"{field}: {label} across {gpus} GPUs: fp16-mixed's gradient scaler is not sharded here; "
                          "use bf16-mixed (Ampere and newer) or fp32")
    if recipe.search is not None and recipe.search.strategy == "halving":
        raise RecipeError(f"{field}: {label} across {gpus} GPUs: a halving search resumes its trials from "
                          "one process's checkpoint; use search.strategy: grid")
    if found.gpus and gpus > found.gpus:
        raise RecipeError(f"{field}: {label} needs {gpus} GPUs per job; the machine the jobs run on has "
                          f"{found.gpus}")
