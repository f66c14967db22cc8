"""`poc profile`: the load estimate across batch sizes and RandLoRA's basis variants.

The PoC plan asks how heavy RandLoRA's extra compute is and whether sparse bases or another
batch size change that. Answering it takes real steps, not a formula: for each method of the
recipe (each RandLoRA method in its dense, sparse and very sparse variants), on the recipe's
model, data, device and precision, a few optimizer steps at each batch size, timed one by one.
The memory figure is what sizes a machine: on a GPU torch's reserved peak plus what the device
holds outside torch once the kernels have run (the CUDA context and libraries), on CPU the
resident memory of this process (labelled so).

A batch that runs out of memory is a measurement too: it is recorded as such, the larger ones
of that method are skipped (they would fail the same way), and the profile goes on with the
next method. Every step runs one batch (no gradient accumulation): the batch size is the
micro-batch whose memory a device must hold.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from poc_cli.environment import environment
from poc_cli.errors import first_line
from poc_cli.hardware import Precision, pick_device, precision_for
from poc_cli.methods import get_method
from poc_cli.oom import is_out_of_memory
from poc_cli.profile_results import Status
from poc_cli.plan import Job, Plan
from poc_cli.tasks import Task, task_for
from poc_cli.trackers.peak import WarmupPeak, capacity_mib, memory_scope, release_heap
from poc_cli.train import WARMUP_STEPS, Step
from poc_cli.worker import build_model

SCHEMA = 1
DEFAULT_BATCH_SIZES = (8, 16, 32, 64)
DEFAULT_STEPS = 5


@dataclass(frozen=True)
class Target:
    """One thing to profile: a method of the recipe, in one basis variant for RandLoRA."""

    label: str  # the method's label in the recipe
    method: str
    bases: str | None  # None: not RandLoRA
    in_recipe: bool  # the variant the recipe itself runs
    job: Job


@dataclass(frozen=True)
class Point:
    """One target at one batch size."""

    label: str
    method: str
    bases: str | None
    in_recipe: bool
    batch_size: int
    status: str
    step_s: float | None = None  # median of the timed steps
    examples_per_s: float | None = None
    tokens_per_s: float | None = None
    peak_memory_mib: float | None = None  # see the profile's memory_scope
    error: str | None = None


def targets(plan: Plan) -> list[Target]:
    """Every method that trains, at its first seed; RandLoRA in each basis variant, the recipe's first
    (`Plan.stand_in_runs`: a searched method at its first grid point)."""
    out: list[Target] = []
    seen: set[str] = set()
    for job in plan.stand_in_runs():
        label = job.allocation.label
        if label in seen or not get_method(job.allocation.method).TRAINS:
            continue
        seen.add(label)
        variants = getattr(get_method(job.allocation.method), "variants", None)
        if variants is None:
            out.append(Target(label, job.allocation.method, None, True, job))
            continue
        for index, (bases, spec) in enumerate(variants(job.method)):
            out.append(Target(label, job.allocation.method, bases, index == 0, replace(job, method=spec)))
    return out


def _batches(dataset: Dataset, task: Task, processor: Any, batch_size: int, count: int,
             seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """`count` full batches drawn with replacement: every step sees `batch_size` examples even when
    the training split is smaller than the batch."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randint(0, len(dataset), (batch_size * count,), generator=generator).tolist()
    yield from task.loader(Subset(dataset, indices), processor, batch_size=batch_size, shuffle=False, seed=seed)


def _measure_batch(target: Target, model: torch.nn.Module, task: Task, dataset: Dataset, processor: Any,
                   batch_size: int, steps: int, device: torch.device, precision: Precision) -> tuple[Point, float | None]:
    """Warm-up steps, then `steps` timed ones, inside one memory scope."""
    training = target.job.recipe.training.model_copy(update={"gradient_accumulation_steps": 1})
    base = dict(label=target.label, method=target.method, bases=target.bases, in_recipe=target.in_recipe,
                batch_size=batch_size)
    times: list[float] = []
    tokens = 0
    with WarmupPeak(device) as peak:
        step = Step(model, task=task, training=training, lr=target.job.method.learning_rate,
                    steps=WARMUP_STEPS + steps, precision=precision)
        for n, batch in enumerate(_batches(dataset, task, processor, batch_size, WARMUP_STEPS + steps,
                                           target.job.seed)):
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            t0 = time.perf_counter()
            step([batch])
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if n >= WARMUP_STEPS:
                times.append(time.perf_counter() - t0)
                tokens += task.tokens(batch)
        del step
        model.zero_grad(set_to_none=True)
    step_s = statistics.median(times)
    return Point(**base, status=Status.OK, step_s=step_s, examples_per_s=batch_size / step_s,
                 tokens_per_s=tokens / sum(times), peak_memory_mib=peak.mib), peak.outside_mib


def _sweep(target: Target, model: torch.nn.Module, task: Task, encoded: Dataset, processor: Any, sizes: tuple[int, ...],
           steps: int, device: torch.device, precision: Precision, add: Callable[[Point], None]) -> list[float]:
    """One target at each batch size, ascending; a size past one that ran out of memory is skipped. Returns
    what the GPU held outside torch after each measured size's kernels."""
    base = dict(label=target.label, method=target.method, bases=target.bases, in_recipe=target.in_recipe)
    outside: list[float] = []
    stopped: int | None = None
    for size in sizes:
        if stopped is not None:
            add(Point(**base, batch_size=size, status=Status.SKIPPED,
                      error=f"larger than batch {stopped}, which ran out of memory"))
            continue
        try:
            point, outside_mib = _measure_batch(target, model, task, encoded, processor, size, steps, device,
                                                precision)
        except Exception as exc:
            model.zero_grad(set_to_none=True)
            oom = is_out_of_memory(exc)
            stopped = size if oom else stopped
            add(Point(**base, batch_size=size, status=Status.OOM if oom else Status.FAILED, error=first_line(exc)))
        else:
            add(point)
            if outside_mib is not None:
                outside.append(outside_mib)
        release_heap()
    return outside


def _built(target: Target, task: Task, plan: Plan, device: torch.device,
           precision: Precision) -> tuple[torch.nn.Module, Any]:
    """The target's model and processor, and nothing else that holds the model: a `Built` (or its
    runtime) kept alive would keep the previous model on the GPU while the next one is built, and every
    batch size of the next would fail with a spurious out-of-memory."""
    built = build_model(target.job, task, plan.splits.labels, device, precision)
    return built.model, built.processor


def profile(plan: Plan, *, batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES, steps: int = DEFAULT_STEPS,
            on_point: Callable[[Point], None] | None = None) -> dict[str, Any]:
    """Measure every target at every batch size (ascending) in this process; returns the profile to
    store. Nothing here raises for a method that fails or runs out of memory: the point says so."""
    training = plan.recipe.training
    device = pick_device(training.device)
    precision = precision_for(training, device)
    outside: list[float] = []  # what the GPU held outside torch after each point's kernels
    task = task_for(plan.recipe)
    sizes = tuple(sorted(set(batch_sizes)))
    points: list[Point] = []
    encoded: Dataset | None = None
    started = time.time()

    def add(point: Point) -> None:
        points.append(point)
        if on_point is not None:
            on_point(point)

    for target in targets(plan):
        base = dict(label=target.label, method=target.method, bases=target.bases, in_recipe=target.in_recipe)
        release_heap()  # the previous target's model is unreferenced by now (see `_built`): its memory goes back
        try:
            model, processor = _built(target, task, plan, device, precision)
            if encoded is None:  # every method reads the same tokens
                encoded = task.encode(plan.splits.train, processor, plan.splits.labels, training)
        except Exception as exc:  # a method that cannot be built fails its points, not the profile
            for size in sizes:
                add(Point(**base, batch_size=size, status=Status.FAILED, error=first_line(exc)))
            continue
        outside.extend(_sweep(target, model, task, encoded, processor, sizes, steps, device, precision, add))
        del model  # the only reference: the next target is built on a GPU this one no longer holds
    release_heap()
    return {
        "schema": SCHEMA,
        "kind": "profile",
        "recipe_name": plan.recipe.name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started,
        "model": plan.recipe.model,
        "device": str(device),
        "precision": precision.name,
        "max_length": training.max_length,
        "gradient_checkpointing": training.gradient_checkpointing,
        "memory_scope": memory_scope(device, max(outside, default=None), "profiling"),
        "memory_kind": "gpu" if device.type == "cuda" else "host",
        "context_mib": max(outside, default=None),  # outside torch after the kernels (the report's scope line)
        "capacity_mib": capacity_mib(device),
        "memory_limit_mib": plan.recipe.report.memory_limit_mib,
        "steps": steps,
        "warmup_steps": WARMUP_STEPS,
        "batch_sizes": list(sizes),
        "train_examples": len(plan.splits.train),
        "points": [asdict(p) for p in points],
        "environment": environment(),
    }
