"""Where a job runs and at what numeric precision: one resolution shared by plan, doctor, job and benchmarks.

A PoC's memory and time figures are only worth what they would be in production, and on an
H100/H200 nobody fine-tunes in fp32: `training.precision` says how the job computes, and
`Precision` is the one small object (nanoGPT's precision context) that training, evaluation,
the plan's warm-up and `benchmarks/randlora_speed.py` all use, so each of them runs exactly
what `poc run` runs. In fp32 every part of it is a no-op.

What the recipe asks for is checked here against what this machine has (`problems`), so the
plan and the doctor refuse, in seconds and naming the field, a job that would fail after loading.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Literal

import torch

from poc_cli.bitsandbytes_check import GPU_EXTRA, bitsandbytes_problem

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec

Resolved = Literal["fp32", "bf16-mixed", "fp16-mixed", "bf16"]
AUTOCAST: dict[str, torch.dtype] = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def _cuda_index(device: str) -> int | None:
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else None


def device_problem(device: str) -> str | None:
    """Why `training.device` cannot be used here, or None."""
    if not device.startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return (f"training.device: {device!r} asked for, but torch sees no CUDA device here "
                f"(torch {torch.__version__}); use auto or cpu, or run where a GPU is")
    index, count = _cuda_index(device), torch.cuda.device_count()
    if index is not None and index >= count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return (f"training.device: {device!r} asked for, but torch sees {count} CUDA device(s) (cuda:0 to "
                f"cuda:{count - 1}" + (f"; CUDA_VISIBLE_DEVICES={visible}" if visible is not None else "") + ")")
    return None


def pick_device(requested: str) -> torch.device:
    """`auto` takes the GPU when there is one; a device that is not here is a ValueError (the plan
    reports it first, as a recipe error)."""
    problem = device_problem(requested)
    if problem is not None:
        raise ValueError(problem)
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(requested if requested.startswith("cuda:") else "cuda")


BF16_CAPABILITY = 8  # Ampere (sm_80) and newer compute in bf16; older GPUs only emulate it, several times slower


def _bf16_supported(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively. Decided from the GPU's compute capability, not from
    `torch.cuda.is_bf16_supported()`, which counts emulation: a T4 (7.5) or V100 (7.0) says yes there
    and then runs bf16 several times slower than fp16."""
    if device.type != "cuda":
        return True
    major, _ = torch.cuda.get_device_capability(device)
    return major >= BF16_CAPABILITY


def resolve_precision(requested: str, device: torch.device) -> Resolved:
    """`auto`: bf16-mixed on a GPU that computes in bf16, fp16-mixed on an older GPU (T4, V100), fp32 on
    CPU (CPU autocast is slower than fp32)."""
    if requested != "auto":
        return requested  # type: ignore[return-value]  # the recipe's Literal leaves only resolved names
    if device.type != "cuda":
        return "fp32"
    return "bf16-mixed" if _bf16_supported(device) else "fp16-mixed"


def precision_problem(requested: str, device: torch.device) -> str | None:
    """Why `training.precision` cannot run on `device`, or None."""
    if requested == "fp16-mixed" and device.type != "cuda":
        return ("training.precision: fp16-mixed needs a CUDA GPU (its gradient scaler guards fp16's small range, "
                "which CPUs do not compute in); on CPU use bf16-mixed or fp32")
    if requested in ("bf16", "bf16-mixed") and not _bf16_supported(device):
        major, minor = torch.cuda.get_device_capability(device)
        return (f"training.precision: {requested} needs a GPU that computes in bf16 (compute capability 8.0, "
                f"Ampere, or newer); {torch.cuda.get_device_name(device)} is {major}.{minor} and would only "
                "emulate it: use fp16-mixed (what auto picks there) or fp32")
    return None


def quantization_problem(quantization: str, device: torch.device) -> str | None:
    """Why `training.quantization` cannot be used on `device`, or None: bitsandbytes' 4- and 8-bit
    layers need an NVIDIA GPU and the `gpu` extra."""
    if quantization == "none":
        return None
    if device.type != "cuda":
        return (f"training.quantization: {quantization} needs an NVIDIA GPU (bitsandbytes' CUDA kernels) and "
                "torch sees none for this job; use quantization: none here")
    if find_spec("bitsandbytes") is None:
        return f"training.quantization: {quantization} needs bitsandbytes, which is not installed: {GPU_EXTRA}"
    # `cuda` (or auto) may be given any visible GPU (`poc run --gpus`): each is checked.
    indices = (device.index,) if device.index is not None else tuple(range(torch.cuda.device_count()))
    problem = bitsandbytes_problem(*indices)
    return None if problem is None else f"training.quantization: {quantization}: {problem}"


def problems(training: TrainingSpec) -> list[str]:
    """Everything in `training` this machine cannot do, each a line naming its field."""
    problem = device_problem(training.device)
    if problem is not None:
        return [problem]
    device = pick_device(training.device)
    found = [precision_problem(training.precision, device), quantization_problem(training.quantization, device)]
    return [p for p in found if p is not None]


@dataclass(frozen=True)
class Facts:
    """What the machine the jobs run on makes of a recipe's training settings: what it cannot do,
    and the precision `auto` means there. Found where the jobs run (this machine, or a Ray worker
    with a job's resources), so a plan made on a laptop for a GPU cluster resolves as the cluster would."""

    problems: tuple[str, ...]
    precision: Resolved | None  # None when there are problems
    gpus: int = 0  # GPUs one job may span there (0: the jobs run on a CPU)
    gpu_memory_mib: float | None = None  # each GPU's memory, what `gpus_per_job: auto` is sized against


def facts(training: TrainingSpec) -> Facts:
    """`Facts` of this machine."""
    found = problems(training)
    if found:
        return Facts(tuple(found), None)
    device = pick_device(training.device)
    gpus, memory = 0, None
    if device.type == "cuda":
        gpus = 1 if device.index is not None else torch.cuda.device_count()
        memory = torch.cuda.get_device_properties(device).total_memory / 2**20
    return Facts((), resolve_precision(training.precision, device), gpus, memory)


@dataclass(frozen=True)
class Precision:
    """How a job computes: autocast for the `-mixed` settings (fp16 with a gradient scaler) over fp32
    weights, or the model's own weights in bf16 for `bf16` (peft keeps adapter weights in fp32)."""

    name: Resolved
    device_type: str

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST.get(self.name)

    def weights_dtype(self, *, frozen_base: bool) -> torch.dtype:
        """The dtype the pretrained weights are loaded in, as every PEFT tool loads them: bf16 for
        `bf16`; under a mixed setting the compute dtype where the base stays frozen (its weights are
        never updated, so an fp32 copy would only cost memory: 4 bytes a parameter plus the 2 of the
        copy autocast casts and keeps for backward, against 2), fp32 where every weight trains (the
        optimizer's master copy, full fine-tuning); fp32 for fp32. Trained parameters (adapters, head)
        are made fp32 afterwards wherever the precision keeps master weights (`dtypes.to_master_weights`)."""
        if self.name == "bf16":
            return torch.bfloat16
        if self.autocast_dtype is not None and frozen_base:
            return self.autocast_dtype
        return torch.float32

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype the matmuls run in: autocast's for the mixed settings, else the weights' own."""
        return self.autocast_dtype or (torch.bfloat16 if self.name == "bf16" else torch.float32)

    @property
    def master_weights(self) -> bool:
        """Whether trained parameters must be fp32 (every setting but `bf16`, which trains in bf16)."""
        return self.name != "bf16"

    def autocast(self) -> AbstractContextManager[object]:
        """Around every forward pass (training and evaluation); nothing in fp32 and bf16."""
        dtype = self.autocast_dtype
        return nullcontext() if dtype is None else torch.autocast(self.device_type, dtype=dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """fp16's loss scaler; disabled (every call a pass-through) for the others."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16-mixed")


def precision_for(training: TrainingSpec, device: torch.device) -> Precision:
    """The job's precision on `device`; a precision the device cannot do is a ValueError."""
    problem = precision_problem(training.precision, device)
    if problem is not None:
        raise ValueError(problem)
    return Precision(resolve_precision(training.precision, device), device.type)


def weights_options(training: TrainingSpec, precision: Precision, device: torch.device, *,
                    frozen_base: bool) -> dict[str, Any]:
    """`from_pretrained` keyword arguments for the pretrained weights: always their dtype
    (`Precision.weights_dtype`), since transformers otherwise loads a checkpoint in its own dtype (a
    bf16 hub checkpoint would train in bf16 whatever the recipe says); for a quantized base,
    bitsandbytes' settings placed on the job's GPU, the parts it leaves unquantized (embeddings,
    norms, head) and its compute in the precision's compute dtype."""
    if training.quantization == "none":
        return {"dtype": precision.weights_dtype(frozen_base=frozen_base)}
    # Only used with the gpu extra installed (`problems` checks bitsandbytes first).
    from transformers import BitsAndBytesConfig

    dtype = precision.compute_dtype
    if training.quantization == "nf4":  # QLoRA's setting: NF4, double quantization
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                    bnb_4bit_compute_dtype=dtype)
    else:
        config = BitsAndBytesConfig(load_in_8bit=True)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"dtype": dtype, "quantization_config": config, "device_map": {"": index}}
