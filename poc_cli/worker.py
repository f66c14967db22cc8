"""Run one job inside a process of its own and leave its record in the attempt's folder.

The process is the unit of isolation: its peak memory is its own, a crash or an
out-of-memory kills only this job, and whatever happens there is a record (the child's
when it can write one, the parent's otherwise). The job writes no record or adapter into
the store: it leaves them in its attempt's folder, and the driver of the run, the store's
single writer, commits them (so a job on another machine, under Ray, works the same way).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from poc_cli import forksafe
from poc_cli.data import load_splits
from poc_cli.distributed import Ranks, device_of, shard, start
from poc_cli.dtypes import dtype_name, parameter_dtypes, to_master_weights
from poc_cli.environment import environment
from poc_cli.hardware import Precision, pick_device, precision_for, weights_options
from poc_cli.methods import get_method
from poc_cli.model_free import run_without_model
from poc_cli.modelhub import describe, fingerprint, load_config, resolve_model
from poc_cli.normalisation import batchnorm_policy
from poc_cli.plan import Job
from poc_cli.records.status import Stage, Status
from poc_cli.result import Record
from poc_cli.savers import after_method
from poc_cli.saving import resume_state, save_checkpoint, save_model
from poc_cli.serving import measure
from poc_cli.tasks import Task, task_for
from poc_cli.trackers.load import LoadMeter
from poc_cli.trackers.timing import Stopwatch
from poc_cli.train import Diverged, steady_times, train


class ForkError(RuntimeError):
    """The job was forked from a process that had initialised CUDA (see `forksafe`)."""


def now() -> str:
    """UTC timestamp for records."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Attempt:
    """One try at a job: its id, the private folder its process leaves the record and adapter in,
    and the log it writes to."""

    id: str
    folder: Path
    log: Path

    @property
    def record(self) -> Path:
        return self.folder / "record.json"

    @property
    def adapter(self) -> Path:
        return self.folder / "adapter"

    def rank_record(self, rank: int) -> Path:
        """Where rank `rank` of a job across processes leaves its own record (rank 0's is the job's)."""
        return self.record if rank == 0 else self.folder / f"rank{rank}.json"

    def rank_log(self, rank: int) -> Path:
        """The log rank `rank` writes to: rank 0's is the job's, the others' beside it (`<job>.rank1.log`)."""
        return self.log if rank == 0 else self.log.with_name(f"{self.log.stem}.rank{rank}{self.log.suffix}")


def base_record(job: Job, *, attempt: str, status: Status, started_at: str, log: Path) -> Record:
    """A record with the job's identity and nothing measured yet."""
    return Record(
        job_id=job.id,
        attempt=attempt,
        recipe_name=job.recipe.name,
        method=job.allocation.label,
        method_kind=job.allocation.method,
        seed=job.seed,
        status=status,
        started_at=started_at,
        finished_at=started_at,
        job=job.stored,
        log_path=str(log),
        stage=job.stage,
        selection=job.selection.model_dump(exclude_unset=True) if job.selection else {},
        task={"name": job.recipe.task, "metrics": [m.to_dict() for m in task_for(job.recipe).metrics]},
    )


def failure_record(job: Job, attempt: Attempt, status: Status, error: str, *, started_at: str | None = None) -> Record:
    """The record of an attempt that ended without writing its own (killed, stopped, lost, or
    its executor failed): the job's identity, how it ended and why."""
    record = base_record(job, attempt=attempt.id, status=status, started_at=started_at or now(), log=attempt.log)
    record.error, record.finished_at = error, now()
    return record


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's generators (torch's on every device), as transformers'
    `set_seed` does: that one is not imported, because its module imports peft, and peft before 0.22
    imports bitsandbytes where it is installed, which initialises CUDA in the fork server (see `processes`)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Built:
    """A job's model as built: the model itself, its processor, the fingerprint of the weights it
    started from, and what really runs (`runtime`: device, dtypes, implementation) for the record."""

    model: torch.nn.Module
    processor: Any
    weights: dict[str, Any]
    runtime: dict[str, Any]


def build_model(job: Job, task: Task, labels: tuple[str, ...], device: torch.device,
                precision: Precision) -> Built:
    """The pretrained model with the job's method and memory savers applied, on `device` at
    `precision` (trained parameters fp32 where the precision keeps master weights)."""
    recipe, training = job.recipe, job.recipe.training
    source = resolve_model(recipe.model)
    config = load_config(task, source, labels, field_value=recipe.model)
    processor = task.processor(source, config)
    seed_everything(job.seed)  # head initialisation, LoRA's A, dropout and data order follow the seed
    method = get_method(job.allocation.method)
    options = weights_options(training, precision, device, frozen_base=method.FROZEN_BASE)
    model = task.load_model(source, config, **options)
    weights = fingerprint(source, model)
    arch = describe(model, recipe.target_modules, task)
    model = method.apply(model, spec=job.method, r=job.allocation.r, arch=arch, seed=job.seed)
    model = after_method(model, training, frozen_base=method.FROZEN_BASE)
    upcast = to_master_weights(model, precision)
    if training.quantization == "none":  # a quantized base was placed on its GPU as it loaded
        model = model.to(device)
    runtime = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": precision.name,
        "tf32": tf32_state(device),
        "autocast_dtype": None if precision.autocast_dtype is None else dtype_name(precision.autocast_dtype),
        "loaded_dtype": dtype_name(options["dtype"]),
        "quantization": training.quantization,
        "parameter_dtypes": parameter_dtypes(model),
        "upcast_to_fp32": upcast,
        "implementation": method.implementation(model),
        "batchnorm": batchnorm_policy(model, frozen_base=method.FROZEN_BASE),
    }
    return Built(model, processor, weights, runtime)


def tf32_state(device: torch.device) -> dict[str, bool] | None:
    """Whether fp32 matmuls and convolutions may run in TF32 on this GPU (10-bit mantissa, several times
    faster on Ampere and newer): an fp32 job's speed and its results depend on it. None on CPU."""
    if device.type != "cuda":
        return None
    return {"matmul": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn": bool(torch.backends.cudnn.allow_tf32)}


def _class_counts(splits: Any) -> dict[str, dict[str, int]]:
    """Examples per label in each split (the report shows them beside the scores)."""
    return {name: {str(k): int(v) for k, v in frame["label"].value_counts().sort_index().items()}
            for name, frame in (("train", splits.train), ("validation", splits.validation), ("test", splits.test))
            if frame is not None and "label" in frame}


def _cuda_peaks(device: torch.device) -> dict[str, float | None]:
    """torch's own peaks for the job: allocated (tensors) and reserved (the caching allocator)."""
    if device.type != "cuda":
        return {"torch_peak_allocated_mib": None, "torch_peak_reserved_mib": None}
    return {
        "torch_peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
        "torch_peak_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20,
    }


def _train_phase(job: Job, task: Task, model: torch.nn.Module, train_batches: Any, device: torch.device,
                 precision: Precision, record: Record, emit: Any, ranks: Ranks | None) -> dict[str, Any] | None:
    """Train and record timings, parameters (with the gradient check), throughput and the loss curve;
    returns what resumes a halving rung that stopped early (None otherwise)."""
    emit(event="phase", phase="train")
    resume = resume_state(job, model)
    try:
        with Stopwatch() as train_time, LoadMeter() as load:
            result = train(
                model, train_batches, task=task, training=job.recipe.training, lr=job.method.learning_rate,
                device=device, precision=precision,
                on_step=lambda step, total, loss: emit(event="step", step=step, total=total, loss=loss),
                stop_at=job.rung.stop_at if job.rung is not None else None, resume=resume, ranks=ranks,
            )
    except Diverged as stop:
        record.loss_curve = stop.losses
        raise
    record.timing.update(
        train_s=train_time.result.seconds,
        **steady_times(result, train_time.result.seconds),
        train_cpu_s=train_time.result.cpu_seconds,
        train_started_unix=train_time.result.started_unix,
        train_ended_unix=train_time.result.ended_unix,
    )
    record.load = load.result.to_dict()
    check = result.gradient_check
    record.parameters.update(trainable_counted=check.trainable_parameters,
                             trainable_effective=check.effective_parameters, without_gradient=list(check.missing))
    if check.missing:
        record.warnings.append(
            f"{len(check.missing)} trainable tensor(s) received no gradient in the first step "
            f"({check.trainable_parameters - check.effective_parameters:,} parameters never train): "
            + ", ".join(check.missing[:5])
        )
    record.throughput = {
        "examples_per_s": result.examples_per_second,
        "tokens_per_s": result.tokens_per_second,
        "steps": result.steps,  # optimizer steps
        "effective_batch_size": job.recipe.training.effective_batch_size,
        "examples": result.examples,
        "tokens": result.tokens,
        "warmup_steps_excluded": result.warmup_steps,
    }
    record.loss_curve = result.loss_curve
    if job.rung is not None:
        record.throughput["rung"] = {**job.rung.to_dict(), "resumed_from_step": len(resume["losses"]) if resume else 0}
    return result.state


def execute(job: Job, record: Record, *, adapter: Path, emit: Any, ranks: Ranks | None = None) -> None:
    """Load, adapt, train (unless the method is an untrained reference), evaluate and save;
    fills `record` section by section. A method that needs no neural model runs the job itself.
    In a job across processes every rank runs all of it (FSDP2's forwards are collective) and
    rank 0's record is the job's."""
    method = get_method(job.allocation.method)
    if getattr(method, "MODEL_FREE", False):
        run_without_model(job, method, record, emit=emit)
        return
    training = job.recipe.training
    task = task_for(job.recipe)
    device = pick_device(training.device)
    device = device if ranks is None else device_of(ranks, device)
    precision = precision_for(training, device)
    _claim_device(device, emit)
    if ranks is not None:
        record.distributed = {"world_size": ranks.world, "rank": ranks.rank, "backend": start(ranks, device),
                              "strategy": "FSDP2 (fully_shard)", "launcher": "poc (torchrun's environment)"}
    record.environment = environment()
    emit(event="phase", phase="load")
    trial = job.stage is Stage.TRIAL
    with Stopwatch() as load:
        # a trial never reads the test split
        loaded = _load(job, task, device, precision, record, include_test=not trial, ranks=ranks)
    record.timing["load_s"] = load.result.seconds
    record.parameters = {"trainable_counted": loaded.trainable}  # the planned counts are the job's allocation
    before = None
    state = None
    if get_method(job.allocation.method).TRAINS:  # the gradient check of the first step adds the effective count
        with precision.autocast():
            before = task.before_training(loaded.model, loaded.processor, device=device)
        state = _train_phase(job, task, loaded.model, loaded.train_batches, device, precision, record, emit, ranks)
    else:  # nothing is trainable, so nothing can miss a gradient
        record.parameters.update(trainable_effective=loaded.trainable, without_gradient=[])

    emit(event="phase", phase="evaluate")
    with Stopwatch() as evaluate, precision.autocast():  # evaluated as trained
        _evaluate(task, loaded, training.eval_batch_size, device, record, trial=trial, before=before)
    record.timing["evaluate_s"] = evaluate.result.seconds
    record.memory.update(_cuda_peaks(device))

    emit(event="phase", phase="save")
    if state is not None:  # a halving rung short of the end: the next rung resumes from here
        record.adapter = save_checkpoint(loaded.model, state, adapter)
        return
    record.adapter = save_model(loaded.model, job=job, target=adapter, ranks=ranks)
    if "test" in loaded.encoded and not trial and job.recipe.measure.serving:
        if ranks is not None:  # a model sharded across GPUs is trained there, not served: its serving is its own PoC
            record.warnings.append(f"serving was not measured: the job ran across {ranks.world} processes (FSDP2)")
            return
        emit(event="phase", phase="serve")
        record.serving = _serving(job, task, loaded, device, precision, record)


def _serving(job: Job, task: Task, loaded: _Loaded, device: torch.device, precision: Precision,
             record: Record) -> dict[str, Any]:
    """The record's `serving` section, measured on the test split (see serving.py). A failure there leaves the
    trained and scored job as it is, with a warning naming it (serving is measured after the result is in)."""
    metric, started = task.primary.name, time.perf_counter()
    try:
        serving = measure(task, loaded.model, dataset=loaded.encoded["test"], processor=loaded.processor,
                          batch_size=job.recipe.training.eval_batch_size, device=device, autocast=precision.autocast,
                          adapter_bytes=record.adapter["bytes"] if record.adapter.get("kind") == "peft adapter"
                          else None, budget=job.allocation.budget,
                          score=(metric, record.metrics["test"].get(metric)), labels=loaded.splits.labels)
    except Exception as error:  # noqa: BLE001  (a peft tuner's merge or conversion path poc has not met)
        record.warnings.append(f"serving was not measured: {type(error).__name__}: {str(error)[:200]}")
        return {}
    return serving.model_dump(exclude_none=True) | {"seconds": time.perf_counter() - started}


def _claim_device(device: torch.device, emit: Any) -> None:
    """On a GPU: refuse a CUDA the fork server left unusable, before the data and model load (not at the
    first kernel after them), tell the parent which GPU this is, and start its peak memory from zero."""
    if device.type != "cuda":
        return
    unsafe = forksafe.problem()
    if unsafe is not None:
        raise ForkError(unsafe)
    # The parent maps this UUID to its NVML handle (NVML and CUDA orders may differ).
    emit(event="device", uuid=str(torch.cuda.get_device_properties(device).uuid))
    torch.cuda.reset_peak_memory_stats(device)


@dataclass
class _Loaded:
    """What a job trains and scores: the splits, the built model and its processor, the encoded splits."""

    splits: Any
    model: torch.nn.Module
    processor: Any
    encoded: dict[str, Any]
    train_batches: Any
    trainable: int


def _load(job: Job, task: Task, device: torch.device, precision: Precision, record: Record, *,
          include_test: bool, ranks: Ranks | None) -> _Loaded:
    """Read the data, build the model (checking its trainable count against the plan's) and encode."""
    training = job.recipe.training
    splits = load_splits(job.recipe.data, task, include_test=include_test)
    record.data = {
        "sources": [s.__dict__ for s in splits.sources],
        "sizes": splits.sizes(),
        "labels": list(splits.labels),
        "class_counts": _class_counts(splits),
    }
    built = build_model(job, task, splits.labels, device, precision)
    record.model, record.runtime = built.weights, built.runtime
    trainable = sum(p.numel() for p in built.model.parameters() if p.requires_grad)
    if trainable != job.allocation.trainable_parameters:
        raise RuntimeError(
            f"built model has {trainable:,} trainable parameters, plan said "
            f"{job.allocation.trainable_parameters:,}: the budget fit is wrong for this model"
        )
    if ranks is not None:
        record.distributed["blocks_sharded"] = shard(built.model, precision)
    encoded = {name: task.encode(frame, built.processor, splits.labels, training)
               for name, frame in (("train", splits.train), ("validation", splits.validation),
                                   ("test", splits.test)) if frame is not None}
    record.data["fitting"] = {name: counts for name, dataset in encoded.items()
                              if (counts := task.data_counts(dataset))}
    train_batches = task.loader(encoded["train"], built.processor, batch_size=training.batch_size, shuffle=True,
                                seed=job.seed)
    return _Loaded(splits, built.model, built.processor, encoded, train_batches, trainable)


def _evaluate(task: Task, loaded: _Loaded, batch_size: int, device: torch.device, record: Record, *,
              trial: bool, before: float | None) -> None:
    """Score the splits a job may read (a trial: validation only), and the test split's model metrics."""
    for split in ("validation",) if trial else ("test", "validation"):
        if split not in loaded.encoded:
            continue
        batches = task.loader(loaded.encoded[split], loaded.processor, batch_size=batch_size, shuffle=False, seed=0)
        predictions = task.predict(loaded.model, batches, device=device)
        record.metrics[split] = task.evaluate(predictions, loaded.splits.labels)
        record.predictions[split] = predictions
    if not trial:
        record.metrics["test"].update(task.model_metrics(loaded.model, loaded.processor, device=device, before=before))
