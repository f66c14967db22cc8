"""The one training loop and evaluation, shared by every method.

A hand-written loop rather than `Trainer`: it is short, and it lets every method run
under exactly the same optimizer, schedule and clipping, with the gradient check after
the first step and timing that keeps warm-up steps out of throughput. The task computes
the loss of a batch, so one loop serves text, image, image-text and language-model tasks;
the job's `Precision` (autocast, fp16's scaler) and gradient accumulation live in `Step`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from poc_cli.distributed import Ranks, all_sum, exit_hook, share
from poc_cli.hardware import Precision
from poc_cli.recipe import TrainingSpec
from poc_cli.tasks import Task

# Steps kept out of throughput: the first steps pay for allocator growth and lazy init.
WARMUP_STEPS = 2
# Divergence: a non-finite loss at once, or the mean loss of the last DIVERGENCE_WINDOW
# steps above DIVERGENCE_FACTOR x the first step's loss (a classifier starts near ln(classes),
# so a loss several times that is not noise). A diverged job stops there: more steps cost
# time and cannot recover a useful model.
DIVERGENCE_FACTOR = 4.0
DIVERGENCE_WINDOW = 5

StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class GradientCheck:
    """Which trainable parameters received a gradient in the first step.

    A parameter left with `grad is None` was never reached by backward: it is counted as
    trainable but does not train (RandLoRA's reference CLIP code had exactly this bug).
    A zero gradient is fine: LoRA's A and RandLoRA's gamma get exactly zero at step one,
    because B and lambda start at zero.
    """

    trainable_parameters: int
    effective_parameters: int
    missing: tuple[str, ...]


class Diverged(Exception):
    """Training stopped because the loss diverged; carries the losses up to that step."""

    def __init__(self, step: int, loss: float, losses: list[float]) -> None:
        super().__init__(f"loss diverged at step {step} (loss {loss:.4g}; first step {losses[0]:.4g})")
        self.step = step
        self.losses = losses


def diverged(losses: list[float]) -> bool:
    """Whether the loss so far has gone non-finite or exploded (see DIVERGENCE_FACTOR)."""
    if not math.isfinite(losses[-1]):
        return True
    if len(losses) <= DIVERGENCE_WINDOW:
        return False
    recent = losses[-DIVERGENCE_WINDOW:]
    return sum(recent) / len(recent) > DIVERGENCE_FACTOR * losses[0]


@dataclass(frozen=True)
class TrainResult:
    """What training did and how fast, with warm-up kept out of the throughput figures."""

    steps: int
    examples: int
    tokens: int
    seconds: float
    # The first steps (WARMUP_STEPS) and their seconds: cuBLAS and kernel set-up, optimizer state, allocator
    # growth. 0 and None when the run was too short to keep them apart (every step then counts as steady).
    warmup_steps: int
    warmup_seconds: float | None
    steady_step_seconds: float | None  # one optimizer step past the warm-up
    examples_per_second: float | None
    tokens_per_second: float | None
    loss_curve: list[float]  # every step since the start of the schedule, a resumed trial's earlier ones too
    gradient_check: GradientCheck
    state: dict[str, Any] | None = None  # where training stopped short of its schedule: what resumes it


def optimizer_steps_per_epoch(training: TrainingSpec, batches_per_epoch: int) -> int:
    """Optimizer steps in one pass over the data: a last, shorter accumulation group is a step too."""
    return math.ceil(batches_per_epoch / training.gradient_accumulation_steps)


def total_steps(training: TrainingSpec, batches_per_epoch: int) -> int:
    """Optimizer steps the job will take (`training.steps` counts optimizer steps, not batches)."""
    if training.steps is not None:
        return training.steps
    return training.epochs_or_default * optimizer_steps_per_epoch(training, batches_per_epoch)


def _check_gradients(model: nn.Module) -> GradientCheck:
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = tuple(n for n, p in trainable if p.grad is None)
    total = sum(p.numel() for _, p in trainable)
    lost = sum(p.numel() for n, p in trainable if n in set(missing))
    return GradientCheck(trainable_parameters=total, effective_parameters=total - lost, missing=missing)


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # Decay matrices, not biases or norms: the usual split, identical for every method.
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


class Update:
    """The optimizer half of a training step: unscale (fp16), clip, step, schedule, clear the gradients.

    One object so that `train` and `benchmarks/randlora_speed.py` time the same update
    every method gets, clipping over all of its trainable parameters included. The scaler is
    fp16's; for every other precision it is disabled and each of its calls passes through.
    """

    def __init__(self, model: nn.Module, *, training: TrainingSpec, lr: float, steps: int,
                 scaler: torch.amp.GradScaler | None = None) -> None:
        # Imported here: its module imports peft, which the job server preloads only where that
        # cannot import bitsandbytes (see `processes.preload`).
        from transformers import get_scheduler

        self.optimizer = _optimizer(model, lr, training.weight_decay)
        self.scheduler = get_scheduler(
            training.scheduler,
            optimizer=self.optimizer,
            num_warmup_steps=math.floor(training.warmup_ratio * steps),
            num_training_steps=steps,
        )
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.max_grad_norm = training.max_grad_norm
        self.scaler = scaler or torch.amp.GradScaler("cpu", enabled=False)

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def __call__(self) -> None:
        self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.scaler.step(self.optimizer)  # skipped by fp16's scaler when a gradient overflowed
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)


class Step:
    """One optimizer step as `poc run` takes it: each of its batches forward under the precision's
    autocast and backward (its loss weighted by its share of the step, scaled for fp16), then `Update`.

    Weighting each batch's mean loss by what it averages over (`Task.loss_weight`: examples, or
    the tokens a language model is scored on) makes N accumulated batches give exactly the
    gradient of one batch of all their examples, a shorter last batch included.
    `benchmarks/randlora_speed.py` times this same object.
    """

    def __init__(self, model: nn.Module, *, task: Task, training: TrainingSpec, lr: float, steps: int,
                 precision: Precision, ranks: Ranks | None = None) -> None:
        self.model, self.task, self.precision, self.ranks = model, task, precision, ranks
        self.update = Update(model, training=training, lr=lr, steps=steps, scaler=precision.scaler())
        self.gradient_check: GradientCheck | None = None  # taken at the first step, before its update

    def __call__(self, batches: Sequence[dict[str, torch.Tensor]]) -> float:
        """Take the step; returns its loss (the weighted mean over its batches, summed over the ranks)."""
        weights = [self.task.loss_weight(batch) for batch in batches]
        total = sum(weights)
        if total <= 0:  # nothing to weight by (no scored token at all): plain mean
            weights, total = [1] * len(batches), len(batches)
        value = 0.0
        for batch, weight in zip(batches, weights):
            batch, weight = self._mine(batch, weight)
            with self.precision.autocast():
                loss = self.task.loss(self.model, batch) * (weight / total)
            # FSDP2 averages gradients over the ranks: each share counts `world` times to make that their sum
            self.update.scaler.scale(loss * (self.ranks.world if self.ranks else 1)).backward()
            value += float(loss.detach())
        if self.gradient_check is None:
            self.gradient_check = _check_gradients(self.model)
        self.update()
        return all_sum(value) if self.ranks else value

    def _mine(self, batch: dict[str, torch.Tensor], weight: float) -> tuple[dict[str, torch.Tensor], float]:
        """This rank's share of a batch and its weight (its examples' or scored tokens' part of the batch's);
        the whole batch in a job of one process."""
        if self.ranks is None:
            return batch, weight
        part, empty = share(batch, self.ranks)
        whole = self.task.loss_weight(batch)
        if empty:
            return part, 0.0
        if whole > 0:
            return part, weight * self.task.loss_weight(part) / whole
        return part, weight * self.task.examples(part) / self.task.examples(batch)


def _groups(batches: Iterable[dict[str, torch.Tensor]], size: int) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Consecutive batches, `size` at a time (the last group may be shorter)."""
    group: list[dict[str, torch.Tensor]] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def train(
    model: nn.Module,
    batches: DataLoader,
    *,
    task: Task,
    training: TrainingSpec,
    lr: float,
    device: torch.device,
    precision: Precision | None = None,
    on_step: StepCallback | None = None,
    stop_at: int | None = None,
    resume: dict[str, Any] | None = None,
    ranks: Ranks | None = None,
) -> TrainResult:
    """Train `model` in place (fp32 unless `precision` says otherwise); returns timings, the loss
    curve and the gradient check. Every count here is of optimizer steps.

    `stop_at` ends training early on the full schedule (a halving rung) and returns the `state`
    that `resume` takes to go on exactly as if it had not stopped: the optimizer, schedule and
    scaler, the loss so far, and the random state; the data order is replayed (its loader has a
    seeded generator), skipping the batches already trained on. The trainable weights are the
    caller's to restore (`trainable_state`, `load_trainable`).

    In a job across processes (`ranks`) every rank reads every batch and trains on its share (`Step`).
    Raises Diverged when the loss diverges (see `diverged`).
    """
    steps = total_steps(training, len(batches))
    stop = min(stop_at or steps, steps)
    step_once = Step(model, task=task, training=training, lr=lr, steps=steps,
                     precision=precision or Precision("fp32", device.type), ranks=ranks)
    model.train()
    losses: list[float] = []
    if resume is not None:
        step_once.update.load_state_dict(resume)
        losses = list(resume["losses"])
    step = skip = resumed_at = len(losses)
    counts = _Counts()
    start = time.perf_counter()
    while step < stop:
        groups = _groups(batches, training.gradient_accumulation_steps)
        skip = _passed_over(groups, skip, resume)
        for group in groups:
            if step >= stop:
                break
            group = [{k: v.to(device) for k, v in batch.items()} for batch in group]
            value, elapsed = _timed(step_once, group, device)
            timed = step - resumed_at >= WARMUP_STEPS or stop - resumed_at <= 2 * WARMUP_STEPS
            counts.add(task, group, elapsed, timed=timed)
            losses.append(value)
            step += 1
            if ranks is not None:
                exit_hook(ranks, step)
            if diverged(losses):
                raise Diverged(step, value, losses)
            if on_step is not None:
                on_step(step, steps, value)
    assert step_once.gradient_check is not None  # at least one step always runs (steps >= 1)
    state = {**step_once.update.state_dict(), "losses": losses, "random": _random_state()} if step < steps else None
    return counts.result(steps=step, seconds=time.perf_counter() - start, losses=losses,
                         gradient_check=step_once.gradient_check, state=state)


def _passed_over(groups: Iterator[list[dict[str, torch.Tensor]]], skip: int, resume: dict[str, Any] | None) -> int:
    """A resumed run passes over the `skip` groups it trained on before it stopped (this epoch's share of
    them); past the last, the random state is restored so that dropout goes on as it would have. Returns
    how many are left to pass over in the next epoch."""
    if not skip:
        return 0
    skip -= sum(1 for _ in zip(range(skip), groups))
    if not skip:
        _set_random_state(resume["random"])  # type: ignore[index]  # skip > 0 only when resuming
    return skip


def _timed(step_once: Step, group: list[dict[str, torch.Tensor]], device: torch.device) -> tuple[float, float]:
    """One optimizer step's loss and its seconds, the GPU's work finished (it runs ahead of Python)."""
    t0 = time.perf_counter()
    value = step_once(group)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return value, time.perf_counter() - t0


@dataclass
class _Counts:
    """What training went through, and what its timed steps (past the warm-up) did in how long: the
    throughput a record reports leaves out the first steps' compilation and allocation."""

    examples: int = 0
    tokens: int = 0
    timed_examples: int = 0
    timed_tokens: int = 0
    timed_seconds: float = 0.0
    timed_steps: int = 0
    untimed_seconds: float = 0.0  # the warm-up steps'
    untimed_steps: int = 0

    def add(self, task: Task, group: list[dict[str, torch.Tensor]], seconds: float, *, timed: bool) -> None:
        examples = sum(task.examples(batch) for batch in group)
        tokens = sum(task.tokens(batch) for batch in group)
        self.examples += examples
        self.tokens += tokens
        if timed:
            self.timed_seconds += seconds
            self.timed_examples += examples
            self.timed_tokens += tokens
            self.timed_steps += 1
        else:
            self.untimed_seconds += seconds
            self.untimed_steps += 1

    def per_second(self, amount: int) -> float | None:
        return amount / self.timed_seconds if self.timed_seconds > 0 else None

    def result(self, *, steps: int, seconds: float, losses: list[float], gradient_check: GradientCheck,
               state: dict[str, Any] | None) -> TrainResult:
        """What training did: the counts, the warm-up apart and the steady rates."""
        return TrainResult(
            steps=steps, examples=self.examples, tokens=self.tokens, seconds=seconds,
            warmup_steps=self.untimed_steps, warmup_seconds=self.untimed_seconds if self.untimed_steps else None,
            steady_step_seconds=self.timed_seconds / self.timed_steps if self.timed_steps else None,
            examples_per_second=self.per_second(self.timed_examples),
            tokens_per_second=self.per_second(self.timed_tokens) if self.timed_tokens else None,
            loss_curve=losses, gradient_check=gradient_check, state=state,
        )


def _random_state() -> dict[str, Any]:
    """torch's CPU and CUDA generators (dropout, and anything else a step draws)."""
    found: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        found["cuda"] = torch.cuda.get_rng_state_all()
    return found


def _set_random_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors training changes (adapters, head, or every weight of full fine-tuning)."""
    return {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put back what `trainable_state` saved; a missing or extra tensor is an error, not a silent skip."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(state):
        raise RuntimeError(f"the checkpoint holds {len(state)} trainable tensors, the model {len(params)}: "
                           "it was saved for another model or method")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name].to(p.device, p.dtype))


def steady_times(result: TrainResult, train_s: float) -> dict[str, float | None]:
    """The warm-up steps' seconds apart, and the training time had they cost what a steady step
    costs: what time ratios and fronts compare (one-off set-up is not the method's), while the
    money stays on `train_s`, the wall time that was paid. None where the run was too short to
    keep a warm-up apart."""
    if result.warmup_seconds is None or result.steady_step_seconds is None:
        return {"warmup_s": None, "steady_train_s": None}
    return {"warmup_s": result.warmup_seconds,
            "steady_train_s": train_s - result.warmup_seconds + result.warmup_steps * result.steady_step_seconds}
