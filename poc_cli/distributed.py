"""One job across several processes: torch.distributed started as torchrun starts it, the model sharded
with FSDP2 (`fully_shard`), each optimizer step's batches shared between the ranks.

poc does not build a training engine: each rank is a job process started by `isolation` with the
environment torchrun gives its workers (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
MASTER_PORT: `env://` rendezvous), so that poc measures each rank from outside, ties its life to
`poc run`'s and ends the whole job when one rank dies, as it does for a one-process job. NCCL joins
the ranks on GPUs, gloo on a CPU (how the tests run it).

What a one-GPU job's settings mean stays what they mean: every rank reads the same seeded batches
and takes its share of each (`share`), weighted so that the gradient summed over the ranks is the
gradient of the whole batch; the global batch, gradient accumulation, the schedule and the seed are
the one-process job's. The trained parameters keep their fp32 master copy; under a mixed precision
FSDP2 gathers each block in the compute dtype and reduces gradients in fp32.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from poc_cli.hardware import Precision

# A test hook: "RANK:STEP" makes that rank's process exit (code 3) right after that optimizer step, as a rank
# that crashes or is killed would. Read only in a job across processes.
EXIT_HOOK = "POC_TEST_EXIT_RANK_AT_STEP"
HOOK_EXIT_CODE = 3


@dataclass(frozen=True)
class Ranks:
    """This process's place in a job across `world` processes (torchrun's variables)."""

    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        """The rank that writes the job's record and adapter."""
        return self.rank == 0


def rank_env(rank: int, world: int, port: int) -> dict[str, str]:
    """The environment torchrun gives rank `rank` of a one-machine job (`env://` rendezvous on `port`)."""
    return {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def free_port() -> int:
    """A TCP port free on this machine now, for rank 0's rendezvous store."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current() -> Ranks | None:
    """This process's ranks where it is one of several (torchrun's variables set), else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def device_of(ranks: Ranks, device: torch.device) -> torch.device:
    """Each rank's own GPU (`cuda:LOCAL_RANK` among the job's visible ones); a CPU stays the CPU."""
    return torch.device("cuda", ranks.local_rank) if device.type == "cuda" else device


def start(ranks: Ranks, device: torch.device) -> str:
    """Join the job's process group (NCCL on GPUs, gloo on a CPU); returns the backend."""
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=ranks.rank, world_size=ranks.world,
                            device_id=device if device.type == "cuda" else None)
    return backend


def finish() -> None:
    """Leave the process group (where one was joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks FSDP2 shards one by one: the classes transformers' `_no_split_modules` names
    (decoder layers, encoder layers), else every entry of a ModuleList of two or more."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or ())
    found = [m for m in model.modules() if type(m).__name__ in names]
    if found:
        return found
    return [block for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 1 for block in m]


def shard(model: nn.Module, precision: Precision) -> int:
    """Shard each block, then the root (embeddings, norms, head), with FSDP2; returns the blocks sharded.
    Under a mixed precision (and for `bf16`'s fp32 adapters on a bf16 base) parameters are gathered in the
    compute dtype, gradients reduced in fp32. The frozen bases RandLoRA and VeRA share between layers are
    buffers, not parameters: every rank keeps them whole, generated from the same seed."""
    from torch.distributed.fsdp import (
        MixedPrecisionPolicy,
        fully_shard,
        register_fsdp_forward_method,
    )

    compute = precision.autocast_dtype or (torch.bfloat16 if precision.name == "bf16" else None)
    policy = MixedPrecisionPolicy(param_dtype=compute, reduce_dtype=torch.float32)
    blocks = _blocks(model)
    for block in blocks:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    if hasattr(model, "generate"):  # generation calls the model's parts, not its forward: gather the root for it
        register_fsdp_forward_method(model, "generate")
    return len(blocks)


def share(batch: dict[str, torch.Tensor], ranks: Ranks) -> tuple[dict[str, torch.Tensor], bool]:
    """This rank's contiguous share of a batch's examples, and whether it is empty. An empty share (a last
    batch smaller than the ranks) is the first example, for the rank to weight by zero: every rank must
    run every forward and backward, whose gathers and reductions are collective."""
    size = next(iter(batch.values())).shape[0]
    bounds = [size * r // ranks.world for r in range(ranks.world + 1)]
    start, end = bounds[ranks.rank], bounds[ranks.rank + 1]
    if start == end:
        return {k: v[:1] for k, v in batch.items()}, True
    return {k: v[start:end] for k, v in batch.items()}, False


def all_sum(value: float) -> float:
    """`value` summed over the ranks."""
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item())


def full_state(model: nn.Module, *, trained_only: bool) -> dict[str, Any]:
    """The model's whole (unsharded) state on rank 0's CPU, the trained parameters alone where asked
    (an adapter); collective: every rank calls it, the others get an empty dict."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True,
                                                                ignore_frozen_params=trained_only))


def exit_hook(ranks: Ranks, step: int) -> None:
    """The test hook (EXIT_HOOK): end this process abruptly, as a crashed rank would."""
    hook = os.environ.get(EXIT_HOOK)
    if hook and hook == f"{ranks.rank}:{step}":
        os._exit(HOOK_EXIT_CODE)
