"""The one training loop and evaluation, shared by every method.

A hand-written loop rather than `Trainer`: it is short, and it lets every method run
under exactly the same optimizer, schedule and clipping, with the gradient check after
the first step and timing that keeps warm-up steps out of throughput. The task computes
the loss of a batch, so one loop serves text, image and image-text tasks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import get_scheduler

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
    examples_per_second: float | None
    tokens_per_second: float | None
    loss_curve: list[float]
    gradient_check: GradientCheck


def total_steps(training: TrainingSpec, batches_per_epoch: int) -> int:
    """Optimizer steps the job will take."""
    return training.steps if training.steps is not None else training.epochs_or_default * batches_per_epoch


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
    """The optimizer half of a training step: clip, step, schedule, clear the gradients.

    One object so that `train` and `benchmarks/randlora_speed.py` time the same update
    every method gets, clipping over all of its trainable parameters included.
    """

    def __init__(self, model: nn.Module, *, training: TrainingSpec, lr: float, steps: int) -> None:
        self.optimizer = _optimizer(model, lr, training.weight_decay)
        self.scheduler = get_scheduler(
            training.scheduler,
            optimizer=self.optimizer,
            num_warmup_steps=math.floor(training.warmup_ratio * steps),
            num_training_steps=steps,
        )
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.max_grad_norm = training.max_grad_norm

    def __call__(self) -> None:
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)


def train(
    model: nn.Module,
    batches: DataLoader,
    *,
    task: Task,
    training: TrainingSpec,
    lr: float,
    device: torch.device,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train `model` in place; returns timings, the loss curve and the gradient check.

    Raises Diverged when the loss diverges (see `diverged`).
    """
    steps = total_steps(training, len(batches))
    update = Update(model, training=training, lr=lr, steps=steps)
    model.train()
    losses: list[float] = []
    check: GradientCheck | None = None
    examples = tokens = timed_examples = timed_tokens = 0
    timed_seconds = 0.0
    start = time.perf_counter()
    step = 0
    while step < steps:
        for batch in batches:
            if step >= steps:
                break
            t0 = time.perf_counter()
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = task.loss(model, batch)
            loss.backward()
            if check is None:
                check = _check_gradients(model)
            update()
            value = float(loss.detach())
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - t0
            n_examples = int(batch["labels"].shape[0])
            n_tokens = task.tokens(batch)
            examples += n_examples
            tokens += n_tokens
            if step >= WARMUP_STEPS or steps <= 2 * WARMUP_STEPS:
                timed_seconds += elapsed
                timed_examples += n_examples
                timed_tokens += n_tokens
            losses.append(value)
            step += 1
            if diverged(losses):
                raise Diverged(step, value, losses)
            if on_step is not None:
                on_step(step, steps, value)
    seconds = time.perf_counter() - start
    assert check is not None  # at least one step always runs (steps >= 1)
    return TrainResult(
        steps=step,
        examples=examples,
        tokens=tokens,
        seconds=seconds,
        examples_per_second=timed_examples / timed_seconds if timed_seconds > 0 else None,
        tokens_per_second=timed_tokens / timed_seconds if timed_seconds > 0 and timed_tokens else None,
        loss_curve=losses,
        gradient_check=check,
    )
