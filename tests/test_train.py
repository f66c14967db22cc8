"""The training loop on a real tiny BERT: loss falls, gradients are checked, metrics are right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import set_seed

from poc_cli.data import load_splits
from poc_cli.methods import get_method
from poc_cli.modelhub import describe, load_config
from poc_cli.recipe import DataSpec, TrainingSpec
from poc_cli.methods.full import FullSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.classification_scores import classification_metrics
from poc_cli.tasks.text_classification import TextClassification
from poc_cli.train import Update, train

SPECS = {"lora": (LoraSpec(method="lora"), 4), "randlora": (RandLoraSpec(method="randlora", alpha_ratio=2), 8),
         "full": (FullSpec(method="full"), None)}
LR = {"lora": 1e-2, "randlora": 1e-2, "full": 3e-3}
TASK = TextClassification(DataSpec(train="unused", test_fraction=0.5))


def build(tiny_model_dir: Path, tiny_data: dict[str, Path], method: str, **weights: Any):  # noqa: ANN201
    spec = DataSpec(train=str(tiny_data["train"]), test=str(tiny_data["test"]))
    splits = load_splits(spec, TASK)
    config = load_config(TASK, str(tiny_model_dir), splits.labels, field_value="tiny")
    tokenizer = TASK.processor(str(tiny_model_dir), config)
    set_seed(0)
    model = TASK.load_model(str(tiny_model_dir), config, **weights)
    arch = describe(model, None, TASK)
    method_spec, r = SPECS[method]
    model = get_method(method).apply(model, spec=method_spec, r=r, arch=arch, seed=0)
    short = TrainingSpec(max_length=16)
    data = TASK.loader(TASK.encode(splits.train, tokenizer, splits.labels, short), tokenizer, batch_size=16,
                       shuffle=True, seed=0)
    test = TASK.loader(TASK.encode(splits.test, tokenizer, splits.labels, short), tokenizer, batch_size=16,
                       shuffle=False, seed=0)
    return model, data, test, splits


@pytest.mark.parametrize("method", ["lora", "randlora", "full"])
def test_loss_falls_and_every_parameter_gets_a_gradient(tiny_model_dir: Path, tiny_data: dict, method: str) -> None:
    model, data, test, splits = build(tiny_model_dir, tiny_data, method)
    result = train(model, data, task=TASK, training=TrainingSpec(epochs=15, warmup_ratio=0.0), lr=LR[method],
                   device=torch.device("cpu"))
    assert result.steps == 15 * len(data) == len(result.loss_curve)
    first, last = sum(result.loss_curve[:5]) / 5, sum(result.loss_curve[-5:]) / 5
    assert last < 0.5 * first, result.loss_curve
    check = result.gradient_check
    assert check.missing == () and check.effective_parameters == check.trainable_parameters
    assert result.examples == 15 * len(splits.train)
    assert result.examples_per_second and result.examples_per_second > 0
    predictions = TASK.predict(model, test, device=torch.device("cpu"))
    y_pred, confidence = predictions["y_pred"], predictions["confidence"]
    assert len(y_pred) == len(splits.test) and all(0.0 < c <= 1.0 for c in confidence)
    assert classification_metrics(predictions["y_true"], y_pred, splits.labels)["accuracy"] > 0.75
    assert sum(predictions["per_example"]["accuracy"]) == sum(t == p for t, p in zip(predictions["y_true"], y_pred))


def test_gradient_check_flags_a_parameter_that_never_trains(tiny_model_dir: Path, tiny_data: dict) -> None:
    model, data, _, _ = build(tiny_model_dir, tiny_data, "lora")
    model.orphan = nn.Parameter(torch.zeros(7, 3))  # trainable, but not in the forward pass
    result = train(model, data, task=TASK, training=TrainingSpec(steps=2), lr=1e-3, device=torch.device("cpu"))
    check = result.gradient_check
    assert check.missing == ("orphan",)
    assert check.trainable_parameters - check.effective_parameters == 21


def test_steps_override_epochs(tiny_model_dir: Path, tiny_data: dict) -> None:
    model, data, _, _ = build(tiny_model_dir, tiny_data, "full")
    result = train(model, data, task=TASK, training=TrainingSpec(steps=len(data) + 3), lr=1e-4, device=torch.device("cpu"))
    assert result.steps == len(data) + 3


def test_metrics_by_hand() -> None:
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["recall"] == pytest.approx(1 / 2)
    # F1: a = 0.5, b = 0.8, c = 0 -> macro 0.4333
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


@pytest.mark.parametrize("max_grad_norm", [0.5, None])
def test_update_clips_over_all_trainable_parameters_then_clears(max_grad_norm: float | None) -> None:
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 2))
    model[0].weight.requires_grad_(False)
    update = Update(model, training=TrainingSpec(max_grad_norm=max_grad_norm), lr=1e-3, steps=10)
    seen: list[float] = []
    update.optimizer.register_step_pre_hook(
        lambda *_: seen.append(float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in update.params]))))
    )
    (model(torch.randn(4, 6)) * 100).sum().backward()
    before = [p.detach().clone() for p in update.params]
    update()
    assert len(update.params) == 3  # the frozen weight is not the optimizer's
    assert seen[0] <= 0.5 + 1e-6 if max_grad_norm else seen[0] > 0.5
    assert all(p.grad is None for p in update.params)
    assert all(not torch.equal(p, b) for p, b in zip(update.params, before))


def test_fp16_scaler_is_unscaled_before_clipping() -> None:
    """fp16's scaler multiplies the loss by 2^k; the update clips and steps on the true gradients,
    so it moves the weights exactly as the unscaled update does (CPU's GradScaler, same logic as CUDA's)."""
    torch.manual_seed(0)
    x, moved = torch.randn(4, 6), []
    for scaled in (False, True):
        torch.manual_seed(1)
        model = nn.Linear(6, 2)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, enabled=scaled)
        update = Update(model, training=TrainingSpec(max_grad_norm=0.5), lr=1e-2, steps=10, scaler=scaler)
        norms: list[float] = []
        update.optimizer.register_step_pre_hook(
            lambda *_, norms=norms, update=update: norms.append(float(torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in update.params])))))
        scaler.scale((model(x) * 100).sum()).backward()
        update()
        assert norms[0] <= 0.5 + 1e-5  # clipped after unscaling, not at 4,096 times the norm
        moved.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*moved):
        torch.testing.assert_close(a, b)
