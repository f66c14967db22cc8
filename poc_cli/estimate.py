"""How long `poc run` will take and how much memory each method needs, from a short measured warm-up.

A search multiplies the jobs (grid points x methods, then methods x seeds), so a user has
to know the bill before starting it. Each method is built once, here, on the recipe's device
and precision, and trained for a few steps on real batches of the recipe's data; the job
times follow from the measured step time, one evaluation batch, the model set-up and the
tokenisation of the data, times the number of steps and batches each job will do, plus the
start of each job's process (and of the fork server, once per run). The same warm-up gives
each method's peak memory (the sizing table), so a method that will not fit the device is
known before anything runs.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from torch.utils.data import Subset

from poc_cli.data import Splits
from poc_cli.hardware import Precision, pick_device, precision_for
from poc_cli.methods import get_method
from poc_cli.plan import Job, Plan
from poc_cli.processes import start_seconds
from poc_cli.recipe import TrainingSpec
from poc_cli.tasks import Task
from poc_cli.trackers.peak import WarmupPeak, capacity_mib, in_use_before_mib, memory_scope
from poc_cli.train import WARMUP_STEPS, total_steps, train
from poc_cli.worker import build_model

WARMUP_TIMED_STEPS = 3  # timed after the WARMUP_STEPS that pay for lazy initialisation


@dataclass(frozen=True)
class MethodTiming:
    """One method's measured costs (seconds)."""

    setup_s: float  # load the pretrained model and apply the method
    step_s: float  # one optimizer step at the recipe's batch size (x its gradient accumulation)
    eval_batch_s: float  # one evaluation batch at the recipe's eval batch size
    model_metrics_s: float  # what the task measures on the whole model, before and after training (forgetting)
    peak_memory_mib: float | None  # see Estimate.memory_scope

    def fits(self, capacity_mib: float | None) -> bool | None:
        """Whether the measured peak fits the device (None: not known)."""
        if self.peak_memory_mib is None or capacity_mib is None:
            return None
        return self.peak_memory_mib <= capacity_mib


@dataclass(frozen=True)
class Estimate:
    """Measured costs and the predicted duration of each stage (seconds)."""

    device: str
    precision: str
    memory_scope: str  # what each method's peak_memory_mib counts
    capacity_mib: float | None  # the GPU's memory, or the machine's RAM
    startup_s: float  # once per run: the fork server importing torch, transformers and peft
    job_start_s: float  # each job: forking its process from the server
    encode_s: float  # tokenising the data, once per job
    methods: dict[str, MethodTiming]
    trials_s: float
    runs_s: float

    @property
    def total_s(self) -> float:
        return self.trials_s + self.runs_s

    @property
    def too_large(self) -> list[str]:
        """Methods whose warm-up peak is more than the device has."""
        return [label for label, timing in self.methods.items() if timing.fits(self.capacity_mib) is False]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s, "too_large": self.too_large}


def _measure(job: Job, task: Task, splits: Splits, device: Any, precision: Precision,
             context_mib: float | None) -> tuple[MethodTiming, float]:
    """Build one method, train it a few steps (unless it does not train) and evaluate one batch, at
    the job's precision; also time the encoding of the data."""
    training = job.recipe.training
    trains = get_method(job.allocation.method).TRAINS
    with WarmupPeak(device, context_mib) as peak:
        t0 = time.perf_counter()
        model, processor, _ = build_model(job, task, splits.labels, device, precision)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        encoded = task.encode(splits.train, processor, splits.labels, training)
        encode_s = (time.perf_counter() - t0) * (sum(splits.sizes().values()) / len(splits.train))
        step_s = 0.0
        if trains:
            steps = WARMUP_STEPS + WARMUP_TIMED_STEPS
            short = training.model_copy(update={"epochs": None, "steps": steps})
            batches = task.loader(encoded, processor, batch_size=training.batch_size, shuffle=True, seed=job.seed)
            result = train(model, batches, task=task, training=short, lr=job.method.learning_rate, device=device,
                           precision=precision)
            step_s = (result.examples / result.steps / result.examples_per_second if result.examples_per_second
                      else result.seconds / steps)
    first = task.loader(Subset(encoded, range(min(training.eval_batch_size, len(encoded)))), processor,
                        batch_size=training.eval_batch_size, shuffle=False, seed=0)
    times = []
    with precision.autocast():
        for _ in range(3):
            t0 = time.perf_counter()
            task.predict(model, first, device=device)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()  # as the job does: the untrained measurement only for a method that trains
        before = task.before_training(model, processor, device=device) if trains else None
        task.model_metrics(model, processor, device=device, before=before)
        model_metrics_s = time.perf_counter() - t0
    return MethodTiming(setup_s=setup_s, step_s=step_s, eval_batch_s=statistics.median(times),
                        model_metrics_s=model_metrics_s, peak_memory_mib=peak.mib), encode_s


def _job_seconds(timing: MethodTiming, training: TrainingSpec, splits: Splits, evaluated: list[str],
                 fixed_s: float, steps: int | None = None) -> float:
    """One job: its start, set-up, `steps` optimizer steps (default: the job's whole schedule) and
    the evaluation of the `evaluated` splits."""
    if steps is None:
        steps = total_steps(training, math.ceil(len(splits.train) / training.batch_size))  # optimizer steps
    sizes = splits.sizes()
    eval_batches = sum(math.ceil(sizes[s] / training.eval_batch_size) for s in evaluated if s in sizes)
    return (fixed_s + timing.setup_s + steps * timing.step_s + eval_batches * timing.eval_batch_s
            + timing.model_metrics_s)


def _search_seconds(timing: MethodTiming, plan: Plan, index: int, fixed_s: float) -> float:
    """One method's trials, as `Plan.search_cost` counts them: every point's whole schedule (grid),
    or a job per rung reached and the rungs' share of the steps (halving)."""
    assert plan.trial_splits is not None
    jobs, steps, _ = plan.search_cost(index)
    training = plan.trials[index][0][1].recipe.training
    return (jobs * _job_seconds(timing, training, plan.trial_splits, ["validation"], fixed_s, steps=0)
            + steps * timing.step_s)


def estimate(plan: Plan) -> Estimate:
    """Warm up each method once (in this process) and predict the run's duration and memory."""
    training = plan.recipe.training
    device = pick_device(training.device)
    precision = precision_for(training, device)
    context_mib = in_use_before_mib(device) if device.type == "cuda" else None
    task = plan.recipe.make_task()
    runs = plan.stand_in_runs()
    startup_s, job_start_s = start_seconds()
    timings: dict[str, MethodTiming] = {}
    encode_s = 0.0
    for job in runs:
        if job.allocation.label not in timings:
            timings[job.allocation.label], encode_s = _measure(job, task, plan.splits, device, precision, context_mib)
    trials_s = sum(_search_seconds(timings[plan.allocations[index].label], plan, index, job_start_s + encode_s)
                   for index in plan.trials)
    runs_s = sum(_job_seconds(timings[job.allocation.label], job.recipe.training, plan.splits,
                              ["test", "validation"], job_start_s + encode_s) for job in runs)
    if plan.trial_jobs:  # the fork server starts with the run's first job
        trials_s += startup_s
    else:
        runs_s += startup_s
    return Estimate(device=str(device), precision=precision.name, memory_scope=memory_scope(device, context_mib),
                    capacity_mib=capacity_mib(device), startup_s=startup_s, job_start_s=job_start_s,
                    encode_s=encode_s, methods=timings, trials_s=trials_s, runs_s=runs_s)
