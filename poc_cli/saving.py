"""What a job leaves of its trained model: the PEFT adapter the driver moves into the store, a fully
fine-tuned model's size (measured, not kept), or a halving rung's checkpoint that the next rung resumes.

A job across processes (`distributed`) gathers the whole trained state onto rank 0 first (every rank
takes part in the gather), and rank 0 alone writes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poc_cli.distributed import Ranks, full_state
from poc_cli.methods import get_method
from poc_cli.paths import dir_bytes
from poc_cli.plan import Job
from poc_cli.records.status import Stage
from poc_cli.train import load_trainable, trainable_state

CHECKPOINT = "checkpoint.pt"


def save_model(model: nn.Module, *, job: Job, target: Path, ranks: Ranks | None) -> dict[str, Any]:
    """Save PEFT adapters into `target` (the driver moves them into the store); measure (and
    discard) a fully fine-tuned model. The record's `adapter` section."""
    saves = get_method(job.allocation.method).SAVES
    if job.stage is Stage.TRIAL:
        return {"kind": "not saved (search trial)", "path": None, "bytes": None}
    if saves is None:
        return {"kind": "nothing trained", "path": None, "bytes": None}
    state = full_state(model, trained_only=saves == "adapter") if ranks is not None else None
    if ranks is not None and not ranks.main:
        return {"kind": "saved by rank 0", "path": None, "bytes": None}
    keyword = {} if state is None else {"state_dict": state}
    if saves == "adapter":
        shutil.rmtree(target, ignore_errors=True)
        try:
            model.save_pretrained(target, **keyword)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # never a half-written adapter (a full disk, Ctrl-C)
            raise
        return {"kind": "peft adapter", "path": str(target), "bytes": dir_bytes(target)}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, **keyword)
        return {"kind": "full model (measured, not kept)", "path": None, "bytes": dir_bytes(Path(tmp))}


def save_checkpoint(model: nn.Module, state: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A halving rung short of the end: what the next rung resumes from (the record's `adapter` section)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "trainable": trainable_state(model)}, folder / CHECKPOINT)
    return {"kind": "checkpoint (halving rung)", "path": None, "bytes": dir_bytes(folder)}


def resume_state(job: Job, model: nn.Module) -> dict[str, Any] | None:
    """A halving rung's starting point: the previous rung's checkpoint, its weights put back."""
    if job.resume is None:
        return None
    path = Path(job.resume) / CHECKPOINT
    if not path.is_file():
        raise RuntimeError(f"the previous rung's checkpoint {path} is missing: delete this method's trial records "
                           "in the store's trials/ folder to run its search again")
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and numbers only: no code runs
    load_trainable(model, state.pop("trainable"))
    return state
