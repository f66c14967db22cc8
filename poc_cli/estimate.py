"""How long `poc run` will take and how much memory each method needs, from a short measured warm-up.

A search multiplies the jobs (grid points x methods, then methods x seeds), so a user has
to know the bill before starting it. Each method is built once, here, on the recipe's device
and precision, and trained for a few steps on real batches of the recipe's data; the job
times follow from the measured step time, one evaluation batch, the model set-up and the
tokenisation of the data, times the number of steps and batches each job will do, plus the
start of each job's process (and of the fork server, once per run). The same warm-up gives
each method's peak memory (the sizing table), so a method that will not fit the device is
known before anything runs: its first step trains on the longest examples of the training
data and its evaluation runs on the longest of the evaluated splits (generation's cache
included), the worst batches a job can meet, inside one peak with the training.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from torch.utils.data import Dataset, Subset

from poc_cli.data import Splits
from poc_cli.errors import first_line
from poc_cli.hardware import Precision, pick_device, precision_for
from poc_cli.methods import get_method
from poc_cli.oom import is_out_of_memory
from poc_cli.plan import Job, Plan
from poc_cli.processes import start_seconds
from poc_cli.recipe import TrainingSpec
from poc_cli.tasks import Task, get_task, task_for
from poc_cli.trackers.peak import WarmupPeak, capacity_mib, memory_scope, release_heap
from poc_cli.train import WARMUP_STEPS, Step, total_steps, train
from poc_cli.worker import build_model

WARMUP_TIMED_STEPS = 3  # timed after the WARMUP_STEPS that pay for lazy initialisation
BRIEF_FORWARD_S = 0.25  # a forward of the worst batch this slow: a brief warm-up (`_brief`)
PROBE_EXAMPLES = 2  # a brief warm-up's batches: this many of the longest examples, their times scaled up
BRIEF_PASSAGES = 4  # a brief warm-up's model metrics (forgetting) on this many passages, scaled up


@dataclass(frozen=True)
class MethodTiming:
    """One method's measured costs (seconds)."""

    setup_s: float  # load the pretrained model and apply the method
    step_s: float  # one optimizer step at the recipe's batch size (x its gradient accumulation)
    eval_batch_s: float  # one evaluation batch at the recipe's eval batch size
    model_metrics_s: float  # what the task measures on the whole model, before and after training (forgetting)
    peak_memory_mib: float | None  # see Estimate.memory_scope
    out_of_memory: str | None = None  # the warm-up ran out of memory (the error's first line): it cannot fit
    fit_s: float | None = None  # a classical reference row: fitting every test series, estimated from a sample
    across: int | None = None  # a job across this many GPUs: not warmed up (the warm-up is one process on one GPU)
    brief: bool = False  # a brief warm-up (`_brief`): one timed step, the longest evaluation batch, a sample of passages

    def fits(self, capacity_mib: float | None) -> bool | None:
        """Whether the measured peak fits the device (None: not known)."""
        if self.out_of_memory is not None:
            return False
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
    def not_timed(self) -> list[str]:
        """Methods whose jobs span several GPUs: left out of the duration (see MethodTiming.across)."""
        return [label for label, timing in self.methods.items() if timing.across is not None]

    @property
    def too_large(self) -> list[str]:
        """Methods whose warm-up peak is more than the device has."""
        return [label for label, timing in self.methods.items() if timing.fits(self.capacity_mib) is False]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s, "too_large": self.too_large}


def longest(task: Task, dataset: Dataset, count: int) -> Subset:
    """The `count` examples of `dataset` with the most tokens (the first `count` where all are alike)."""
    tokens = task.example_tokens(dataset)
    count = min(count, len(dataset))
    if tokens is None:
        return Subset(dataset, range(count))
    return Subset(dataset, sorted(range(len(dataset)), key=lambda i: -tokens[i])[:count])


def _measure(job: Job, task: Task, splits: Splits, device: Any, precision: Precision,
             encodings: dict[str, Any] | None = None) -> tuple[MethodTiming, float, float | None]:
    """Build one method, train it a few steps (unless it does not train) and evaluate, at the job's precision,
    in one memory peak; also time the encoding of the data. Returns the timing, the encoding's seconds and
    what the GPU held outside torch (None on CPU). Where a forward of the worst batch would be slow on this
    machine (a GPU-sized model planned on a CPU), the warm-up is brief (see `_brief`)."""
    training = job.recipe.training
    trains = get_method(job.allocation.method).TRAINS
    with WarmupPeak(device) as peak:
        t0 = time.perf_counter()
        built = build_model(job, task, splits.labels, device, precision)
        model, processor = built.model, built.processor
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        encodings = {} if encodings is None else encodings  # every method reads the data with the same processor
        if "train" not in encodings:
            encodings["train"] = task.encode(splits.train, processor, splits.labels, training)
        encoded = encodings["train"]
        encode_s = (time.perf_counter() - t0) * (sum(splits.sizes().values()) / len(splits.train))
        brief = _brief(task, model, encoded, processor, training, device, precision)
        # The longest batch first (an untimed warm-up step): the peak of the worst batch a job meets.
        worst = [] if brief else list(task.loader(longest(task, encoded, training.batch_size), processor,
                                                  batch_size=training.batch_size, shuffle=False, seed=0))
        step_s = _step_seconds(job, task, model, encoded, processor, worst, device, precision, brief) if trains else 0.0
        if "evaluated" not in encodings:
            evaluated = [f for f in (splits.test, splits.validation) if f is not None] or [splits.train]
            encodings["evaluated"] = [task.encode(frame, processor, splits.labels, training) for frame in evaluated]
        eval_batch_s = _eval_seconds(task, model, encodings["evaluated"], processor, training, device, precision,
                                     brief)
        model_metrics_s = _metrics_seconds(job, task, model, processor, device, precision, brief, trains)
    timing = MethodTiming(setup_s=setup_s, step_s=step_s, eval_batch_s=eval_batch_s, model_metrics_s=model_metrics_s,
                          peak_memory_mib=None if brief else peak.mib, brief=brief)
    return timing, encode_s, peak.outside_mib


def _brief(task: Task, model: Any, encoded: Any, processor: Any, training: TrainingSpec, device: Any,
           precision: Precision) -> bool:
    """Whether a forward of the worst batch would take BRIEF_FORWARD_S or more here (timed on PROBE_EXAMPLES of
    the longest examples, scaled): then a step takes seconds, and the warm-up trains and evaluates batches of
    PROBE_EXAMPLES (the longest first, untimed, then typical ones, timed), scales their times to the recipe's
    batch sizes, and measures the task's model metrics on BRIEF_PASSAGES passages, scaled (`poc plan` says so).
    Its peak memory is then a probe's, not reported: the arithmetic table sizes the memory."""
    import torch

    probe = next(iter(task.loader(longest(task, encoded, PROBE_EXAMPLES), processor, batch_size=PROBE_EXAMPLES,
                                  shuffle=False, seed=0)))
    t0 = time.perf_counter()
    with torch.no_grad(), precision.autocast():
        task.loss(model, {k: v.to(device) for k, v in probe.items()})
    return (time.perf_counter() - t0) * training.batch_size / PROBE_EXAMPLES >= BRIEF_FORWARD_S


def _step_seconds(job: Job, task: Task, model: Any, encoded: Any, processor: Any, worst: list[Any], device: Any,
                  precision: Precision, brief: bool) -> float:
    """One optimizer step's seconds past the warm-up: WARMUP_STEPS untimed (the worst batch's first) and
    WARMUP_TIMED_STEPS timed; brief: `_probed_step`."""
    training = job.recipe.training
    size = PROBE_EXAMPLES if brief else training.batch_size
    shuffled = task.loader(encoded, processor, batch_size=size, shuffle=True, seed=job.seed)
    if brief:
        return _probed_step(job, task, model, next(iter(shuffled)), device, precision)
    steps = WARMUP_STEPS + WARMUP_TIMED_STEPS
    short = training.model_copy(update={"epochs": None, "steps": steps})
    batches = [*worst, *islice(_cycled(shuffled), steps * training.gradient_accumulation_steps - 1)]
    result = train(model, batches, task=task, training=short, lr=job.method.learning_rate,  # type: ignore[arg-type]
                   device=device, precision=precision)
    return (result.examples / result.steps / result.examples_per_second if result.examples_per_second
            else result.seconds / steps)


def _probed_step(job: Job, task: Task, model: Any, typical: dict[str, Any], device: Any, precision: Precision) -> float:
    """A brief warm-up's step: a first step of a typical probe batch pays for the set-up; then a step of one
    probe batch and one of two tell the forward and backward of a probe batch (their difference) from the
    update, which does not grow with the batch: the update, plus the forward and backward scaled to the
    recipe's batch and accumulation. (The peak is not a brief warm-up's: no worst batch is needed.)"""
    import torch

    training = job.recipe.training
    step = Step(model, task=task, training=training, lr=job.method.learning_rate, steps=3, precision=precision)
    typical = {k: v.to(device) for k, v in typical.items()}

    def timed(batches: list[dict[str, Any]]) -> float:
        t0 = time.perf_counter()
        step(batches)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    timed([typical])  # pays for the set-up (AdamW's state, the allocator)
    one, two = timed([typical]), timed([typical, typical])
    batch_s = max(two - one, 0.0)
    return max(one - batch_s, 0.0) + batch_s * training.effective_batch_size / PROBE_EXAMPLES


def _eval_seconds(task: Task, model: Any, pool: list[Any], processor: Any, training: TrainingSpec, device: Any,
                  precision: Precision, brief: bool) -> float:
    """One evaluation batch's seconds: the longest batch of the evaluated splits first (the peak), then a typical
    one (the first) three times, the median; brief: the first PROBE_EXAMPLES timed once and scaled to the
    recipe's batch (its first batch pays the set-up: an upper bound). `pool`: the evaluated splits, encoded."""
    size = PROBE_EXAMPLES if brief else training.eval_batch_size
    worst_eval = max((longest(task, d, size) for d in pool), key=lambda d: _tokens(task, d))
    first = task.loader(Subset(pool[0], range(min(size, len(pool[0])))), processor, batch_size=size,
                        shuffle=False, seed=0)
    times = []
    with precision.autocast():
        if not brief:  # the peak (a brief warm-up reports none)
            task.predict(model, task.loader(worst_eval, processor, batch_size=size, shuffle=False, seed=0),
                         device=device)
        for _ in range(1 if brief else 3):
            t0 = time.perf_counter()
            task.predict(model, first, device=device)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * (training.eval_batch_size / PROBE_EXAMPLES if brief else 1)


def _metrics_seconds(job: Job, task: Task, model: Any, processor: Any, device: Any, precision: Precision, brief: bool,
                     trains: bool) -> float:
    """What the task measures on the whole model, before (a method that trains) and after training, as the job
    does; brief: on BRIEF_PASSAGES of the general-text passages, scaled to all of them."""
    passages = job.recipe.evaluation.forgetting_passages
    probe = task
    if brief and passages > BRIEF_PASSAGES:
        probe = get_task(job.recipe.task, job.recipe.data,
                         job.recipe.evaluation.model_copy(update={"forgetting_passages": BRIEF_PASSAGES}))
    with precision.autocast():
        t0 = time.perf_counter()
        before = probe.before_training(model, processor, device=device) if trains else None
        probe.model_metrics(model, processor, device=device, before=before)
        seconds = time.perf_counter() - t0
    return seconds * passages / BRIEF_PASSAGES if probe is not task else seconds


def _fits(job: Job, task: Task, splits: Splits) -> MethodTiming:
    """A reference row without a model (a classical forecast): its fits' time, nothing on the device."""
    histories = splits.test["history"].tolist() if splits.test is not None else []
    seconds = get_method(job.allocation.method).estimated_seconds(
        job.method.method, histories, season=task.season, horizon=task.horizon)  # type: ignore[attr-defined]
    return MethodTiming(setup_s=seconds, step_s=0.0, eval_batch_s=0.0, model_metrics_s=0.0, peak_memory_mib=None,
                        fit_s=seconds)


def _tokens(task: Task, subset: Subset) -> int:
    """Tokens in a subset of examples (0 where the task's examples are all one size)."""
    tokens = task.example_tokens(subset.dataset)
    return 0 if tokens is None else sum(tokens[i] for i in subset.indices)


def _cycled(loader: Any) -> Any:
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


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


def estimate(plan: Plan, on_method: Callable[[str, int, int], None] | None = None) -> Estimate:
    """Warm up each method once (in this process) and predict the run's duration and memory. A method
    that runs out of memory in its warm-up is marked as not fitting; the others are still measured.
    `on_method(label, n, of)` is told before each method's warm-up (the progress `poc plan` shows)."""
    training = plan.recipe.training
    device = pick_device(training.device)
    precision = precision_for(training, device)
    task = task_for(plan.recipe)
    runs = plan.stand_in_runs()
    startup_s, job_start_s = start_seconds()
    timings: dict[str, MethodTiming] = {}
    encode_s = 0.0
    outside: list[float] = []
    encodings: dict[str, Any] = {}
    labels = list(dict.fromkeys(job.allocation.label for job in runs))
    for job in runs:
        if job.allocation.label in timings:
            continue
        if on_method is not None:
            on_method(job.allocation.label, labels.index(job.allocation.label) + 1, len(labels))
        if hasattr(get_method(job.allocation.method), "estimated_seconds"):  # no model: its fits, timed on a sample
            timings[job.allocation.label] = _fits(job, task, plan.splits)
            continue
        if job.gpus > 1 and device.type == "cuda":  # its model is sharded because one GPU cannot hold it
            timings[job.allocation.label] = MethodTiming(setup_s=0.0, step_s=0.0, eval_batch_s=0.0, model_metrics_s=0.0,
                                                         peak_memory_mib=None, across=job.gpus)
            continue
        try:
            timing, encoded_s, outside_mib = _measure(job, task, plan.splits, device, precision, encodings)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            release_heap()
            timing = MethodTiming(setup_s=0.0, step_s=0.0, eval_batch_s=0.0, model_metrics_s=0.0,
                                  peak_memory_mib=None, out_of_memory=first_line(exc))
        else:
            encode_s = encode_s or encoded_s  # the first method's: the others reuse its encodings
            if outside_mib is not None:
                outside.append(outside_mib)
        timings[job.allocation.label] = timing
    trials_s = sum(_search_seconds(timings[plan.allocations[index].label], plan, index, job_start_s + encode_s)
                   for index in plan.trials)
    runs_s = sum(_job_seconds(timings[job.allocation.label], job.recipe.training, plan.splits,
                              ["test", "validation"], job_start_s + encode_s) for job in runs)
    if plan.trial_jobs:  # the fork server starts with the run's first job
        trials_s += startup_s
    else:
        runs_s += startup_s
    return Estimate(device=str(device), precision=precision.name,
                    memory_scope=memory_scope(device, max(outside, default=None)), capacity_mib=capacity_mib(device),
                    startup_s=startup_s, job_start_s=job_start_s, encode_s=encode_s, methods=timings,
                    trials_s=trials_s, runs_s=runs_s)
