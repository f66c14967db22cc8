"""Precision, gradient accumulation and gradient checkpointing, on a real tiny BERT and Llama (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train import LR, TASK, build
from torch import nn

from poc_cli.dtypes import to_master_weights
from poc_cli.hardware import (
    Precision,
    device_problem,
    pick_device,
    precision_problem,
    resolve_precision,
)
from poc_cli.methods import get_method
from poc_cli.recipe import TrainingSpec
from poc_cli.savers import after_method
from poc_cli.train import Step, train

CPU = torch.device("cpu")


def _head_dtypes(model: nn.Module) -> list[torch.dtype]:
    """The output dtype of the classifier head at every call (adapted layers cast their output back
    to their input's dtype, as peft's do; the head is a plain Linear under autocast)."""
    seen: list[torch.dtype] = []
    head = next(m for n, m in model.named_modules() if n.endswith("classifier") and isinstance(m, nn.Linear)
                or n.endswith("classifier.modules_to_save.default"))
    head.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16"])
@pytest.mark.parametrize("method", ["lora", "randlora", "full"])
def test_every_method_trains_at_bf16_on_cpu(tiny_model_dir: Path, tiny_data: dict, method: str,
                                            precision: str) -> None:
    compute = Precision(precision, "cpu")  # type: ignore[arg-type]
    frozen_base = get_method(method).FROZEN_BASE
    model, data, _, _ = build(tiny_model_dir, tiny_data, method, dtype=compute.weights_dtype(frozen_base=frozen_base))
    to_master_weights(model, compute)  # as the job does: what trains in fp32 where the precision keeps master weights
    seen = _head_dtypes(model)
    result = train(model, data, task=TASK, training=TrainingSpec(epochs=15, warmup_ratio=0.0), lr=LR[method],
                   device=CPU, precision=Precision(precision, "cpu"))  # type: ignore[arg-type]
    losses = result.loss_curve
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5, losses
    assert result.gradient_check.missing == ()
    assert set(seen) == {torch.bfloat16}  # the matmuls really ran in bf16
    trainable = {p.dtype for p in model.parameters() if p.requires_grad}
    if precision == "bf16" and method != "full":  # peft keeps adapter weights in fp32 over a bf16 base
        frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
        assert frozen == {torch.bfloat16} and torch.float32 in trainable
    if precision == "bf16-mixed":
        assert trainable == {torch.float32}  # autocast over fp32 master weights of what trains
        frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
        assert frozen == (set() if method == "full" else {torch.bfloat16})  # a frozen base in the compute dtype


def test_fp32_precision_changes_nothing(tiny_model_dir: Path, tiny_data: dict) -> None:
    """fp32's precision object is a no-op: the same losses as the loop without one."""
    runs = []
    for precision in (None, Precision("fp32", "cpu")):
        model, data, _, _ = build(tiny_model_dir, tiny_data, "lora")
        runs.append(train(model, data, task=TASK, training=TrainingSpec(steps=4), lr=1e-2, device=CPU,
                          precision=precision).loss_curve)
    assert runs[0] == runs[1]


def _gradients_of_one_step(model: nn.Module, batches: list[dict[str, torch.Tensor]], task: object,
                           training: TrainingSpec) -> tuple[float, list[torch.Tensor]]:
    """The loss and the gradients a Step applies (captured just before the optimizer steps)."""
    step = Step(model, task=task, training=training, lr=1e-3, steps=10,  # type: ignore[arg-type]
                precision=Precision("fp32", "cpu"))
    captured: list[torch.Tensor] = []
    step.update.optimizer.register_step_pre_hook(
        lambda *_: captured.extend(p.grad.detach().clone() for p in step.update.params))
    return step(batches), captured


def _split(batch: dict[str, torch.Tensor], sizes: list[int]) -> list[dict[str, torch.Tensor]]:
    parts, start = [], 0
    for size in sizes:
        parts.append({k: v[start:start + size] for k, v in batch.items()})
        start += size
    return parts


@pytest.mark.parametrize("method", ["lora", "randlora", "full"])
def test_accumulated_batches_give_the_gradient_of_one_large_batch(tiny_model_dir: Path, tiny_data: dict,
                                                                  method: str) -> None:
    model, data, _, _ = build(tiny_model_dir, tiny_data, method)
    model.eval()  # no dropout: both ways see the same function
    batch = next(iter(data))  # 16 examples
    training = TrainingSpec(max_grad_norm=None)
    whole_loss, whole = _gradients_of_one_step(model, [batch], TASK, training)
    for p in model.parameters():  # undo the update the step made
        p.grad = None
    model, _, _, _ = build(tiny_model_dir, tiny_data, method)
    model.eval()
    parts_loss, parts = _gradients_of_one_step(model, _split(batch, [7, 5, 4]), TASK, training)
    assert parts_loss == pytest.approx(whole_loss, rel=1e-5)
    assert len(parts) == len(whole) > 0
    for a, b in zip(parts, whole):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_accumulation_counts_optimizer_steps(tiny_model_dir: Path, tiny_data: dict) -> None:
    model, data, _, splits = build(tiny_model_dir, tiny_data, "lora")
    assert len(data) == 6  # 96 examples in batches of 16
    training = TrainingSpec(epochs=2, batch_size=16, gradient_accumulation_steps=4, warmup_ratio=0.0)
    result = train(model, data, task=TASK, training=training, lr=1e-2, device=CPU)
    assert result.steps == len(result.loss_curve) == 2 * 2  # 4 + 2 batches per epoch: two optimizer steps
    assert result.examples == 2 * len(splits.train)
    assert training.effective_batch_size == 64


@pytest.mark.parametrize("method", ["lora", "randlora", "full"])
def test_checkpointing_recomputes_and_gives_the_same_gradients(tiny_model_dir: Path, tiny_data: dict,
                                                               method: str) -> None:
    grads, calls = {}, {}
    for checkpointing in (False, True):
        model, data, _, _ = build(tiny_model_dir, tiny_data, method)
        model = after_method(model, TrainingSpec(gradient_checkpointing=checkpointing), frozen_base=method != "full")
        model.train()
        # The layer's first product (recomputation stops early, once backward has what it needs).
        layer = next(m for n, m in model.named_modules() if n.endswith("layer.0.attention.self.query"))
        seen: list[int] = []
        layer.register_forward_hook(lambda *_, seen=seen: seen.append(1))
        batch = next(iter(data))
        TASK.loss(model, batch).backward()
        calls[checkpointing] = len(seen)
        grads[checkpointing] = [p.grad for p in model.parameters() if p.requires_grad]
    assert calls == {False: 1, True: 2}  # checkpointed: the layer ran again in backward
    for a, b in zip(grads[True], grads[False]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_auto_precision_and_what_cpu_refuses() -> None:
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16-mixed", CPU) == "bf16-mixed"
    assert "fp16-mixed needs a CUDA GPU" in (precision_problem("fp16-mixed", CPU) or "")
    assert precision_problem("bf16-mixed", CPU) is None and precision_problem("bf16", CPU) is None
    assert not Precision("bf16-mixed", "cpu").scaler().is_enabled()
    assert Precision("fp32", "cpu").autocast_dtype is None
    assert Precision("bf16", "cpu").weights_dtype(frozen_base=False) == torch.bfloat16


def test_cuda_n_follows_what_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cuda:N` against the devices CUDA_VISIBLE_DEVICES leaves visible (a fake of two GPUs: this
    machine has none)."""
    if torch.cuda.is_available():
        pytest.skip("fakes a machine with two GPUs; this one has real ones")
    assert "torch sees no CUDA device" in (device_problem("cuda:0") or "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert device_problem("cuda:1") is None and pick_device("cuda:1") == torch.device("cuda:1")
    problem = device_problem("cuda:2") or ""
    assert "torch sees 2 CUDA device(s) (cuda:0 to cuda:1; CUDA_VISIBLE_DEVICES=3,5)" in problem
    assert pick_device("cuda") == torch.device("cuda") and pick_device("cpu") == CPU


def test_weights_options_as_from_pretrained_takes_them() -> None:
    """What the job passes to `from_pretrained`: the dtype always (transformers otherwise keeps the
    checkpoint's own): fp32 for fp32; under a mixed setting the compute dtype for a frozen base and fp32
    (master weights) where every weight trains; bf16 for bf16; QLoRA's settings (NF4, double
    quantization) placed on the job's GPU, computing in the precision's compute dtype."""
    from poc_cli.hardware import weights_options

    def dtype(precision: str, device_type: str, frozen_base: bool) -> torch.dtype:
        training = TrainingSpec(precision=precision)  # type: ignore[arg-type]
        return weights_options(training, Precision(precision, device_type), CPU,  # type: ignore[arg-type]
                               frozen_base=frozen_base)["dtype"]

    assert dtype("fp32", "cpu", True) == dtype("fp32", "cpu", False) == torch.float32
    assert dtype("bf16-mixed", "cpu", True) == torch.bfloat16 and dtype("bf16-mixed", "cpu", False) == torch.float32
    assert dtype("fp16-mixed", "cuda", True) == torch.float16 and dtype("fp16-mixed", "cuda", False) == torch.float32
    assert dtype("bf16", "cpu", True) == dtype("bf16", "cpu", False) == torch.bfloat16
    gpu = torch.device("cuda:1")
    nf4 = weights_options(TrainingSpec(quantization="nf4"), Precision("bf16-mixed", "cuda"), gpu, frozen_base=True)
    config = nf4["quantization_config"]
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.bfloat16 and nf4["device_map"] == {"": 1}
    assert nf4["dtype"] == torch.bfloat16  # embeddings, norms and the head: not upcast to fp32
    fp16 = weights_options(TrainingSpec(quantization="nf4"), Precision("fp16-mixed", "cuda"), gpu, frozen_base=True)
    assert fp16["dtype"] == fp16["quantization_config"].bnb_4bit_compute_dtype == torch.float16  # a GPU without bf16
    int8 = weights_options(TrainingSpec(quantization="int8"), Precision("bf16-mixed", "cuda"), gpu, frozen_base=True)
    assert int8["quantization_config"].load_in_8bit and not int8["quantization_config"].load_in_4bit
