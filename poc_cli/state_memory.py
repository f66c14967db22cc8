"""What each method's weights, gradients and optimizer state take in memory, by arithmetic from the plan.

The plan's warm-up measures a method's peak where the model fits the planning machine; a plan made
on a laptop for an 8B model cannot load it. The static part of a job's memory, what a GPU must hold
before a single activation, follows from the plan's counts and the dtypes the job will hold them in
(`hardware.Precision.weights_dtype`, `dtypes.to_master_weights`):

- frozen weights in their load dtype (the compute dtype under a mixed precision, as every PEFT tool
  loads them; 4-bit NF4 or 8-bit for the targeted layers of a quantized base), a PEFT method's frozen
  copy of the head included (peft keeps the original beside the trained one);
- trained parameters (adapters and head, or every weight for full fine-tuning) in fp32 wherever the
  precision keeps master weights, with a gradient and AdamW's two moments each, in the same dtype;
- under a mixed precision, autocast's compute-dtype copy of every fp32 weight a forward multiplies,
  kept until backward (counted for every fp32 parameter: norms and biases make it a slight overcount);
- the frozen matrices a method adds (VeRA's shared projections), in fp32 as peft keeps them.

Activations, the CUDA context and the allocator's slack come on top: the warm-up's measured peak
has them where it can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from poc_cli.dtypes import dtype_name
from poc_cli.hardware import Precision
from poc_cli.methods import get_method

if TYPE_CHECKING:
    from poc_cli.budget import Allocation
    from poc_cli.modelhub import Architecture
    from poc_cli.plan import Plan
    from poc_cli.recipe import TrainingSpec

# Bytes per quantized weight: NF4 is 4 bits plus double-quantized block scales (one 8-bit scale per 64
# weights, one fp32 scale per 256 of those: about 0.127 bits); int8 is 8 bits plus an fp32 scale per row.
QUANTIZED_BYTES = {"nf4": (4 + 8 / 64 + 32 / (64 * 256)) / 8, "int8": 1.0}
ADAMW_MOMENTS = 2


def _bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class StateMemory:
    """One method's weights, gradients and optimizer state in bytes, and the dtypes it holds them in."""

    label: str
    frozen_dtype: str | None  # None: nothing frozen (full fine-tuning)
    trained_dtype: str | None  # None: nothing trained
    frozen_bytes: float
    trained_bytes: float
    gradient_bytes: float
    optimizer_bytes: float
    autocast_copy_bytes: float
    method_frozen_bytes: float

    @property
    def total_bytes(self) -> float:
        return (self.frozen_bytes + self.trained_bytes + self.gradient_bytes + self.optimizer_bytes
                + self.autocast_copy_bytes + self.method_frozen_bytes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_bytes": self.total_bytes}


def state_memory(plan: Plan) -> list[StateMemory]:
    """Each method of the plan (its reference row too) at the plan's precision and quantization."""
    allocations = [*plan.allocations, *([plan.reference.allocation] if plan.reference is not None else [])]
    return states_of(plan.recipe.training, plan.architecture, allocations)


def states_of(training: TrainingSpec, arch: Architecture, allocations: Sequence[Allocation]) -> list[StateMemory]:
    """`state_memory` of `allocations` on `arch`, before a plan exists (the plan sizes its jobs' GPUs by it)."""
    precision = Precision(training.precision, "cpu")  # type: ignore[arg-type]  # resolved by the plan
    quantized = 0 if training.quantization == "none" else sum(layer.in_features * layer.out_features
                                                             for layer in arch.layers)
    found = []
    for allocation in allocations:
        method = get_method(allocation.method)
        trained = allocation.trainable_parameters if method.TRAINS else 0
        frozen = arch.total_parameters if method.FROZEN_BASE else 0
        load = precision.weights_dtype(frozen_base=method.FROZEN_BASE)
        trained_dtype = torch.float32 if precision.master_weights else load
        fp32 = trained * (trained_dtype == torch.float32) + frozen * (load == torch.float32)
        # kept for backward: a method that does not train only casts each weight for the moment of its product
        kept = precision.autocast_dtype is not None and method.TRAINS
        copies = fp32 * _bytes(precision.autocast_dtype) if kept else 0  # type: ignore[arg-type]
        found.append(StateMemory(
            label=allocation.label,
            frozen_dtype=(f"{training.quantization} + {dtype_name(load)}" if quantized else dtype_name(load))
            if frozen else None,
            trained_dtype=dtype_name(trained_dtype) if trained else None,
            frozen_bytes=(frozen - quantized) * _bytes(load) + quantized * QUANTIZED_BYTES.get(training.quantization, 0),
            trained_bytes=trained * _bytes(trained_dtype),
            gradient_bytes=trained * _bytes(trained_dtype),
            optimizer_bytes=trained * ADAMW_MOMENTS * _bytes(trained_dtype),
            autocast_copy_bytes=copies,
            method_frozen_bytes=allocation.frozen_parameters * 4,
        ))
    return found
