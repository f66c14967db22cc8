"""GPU figures a manager can rely on, checked on this CPU wherever the defect shows here: the dtypes a
frozen base is held in under a mixed precision, step time with the warm-up kept apart, bf16 only where a
GPU computes it (a faked capability), out-of-memory from cuBLAS, and `benchmarks/gpu_check.sh` stopping
at once without a GPU. The MIG baseline is in test_trackers.py (fake NVML), the 4/8-bit RandLoRA output
dtype in test_quantized.py (real bitsandbytes layers on the CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
import torch
from conftest import build_decoder, instruction_rows, recipe_dict, write_jsonl, write_recipe

from poc_cli import hardware
from poc_cli.estimate import MethodTiming, estimate
from poc_cli.hardware import Precision, precision_problem, resolve_precision
from poc_cli.plan import make_plan
from poc_cli.recipe import TrainingSpec, load_recipe
from poc_cli.tasks import task_for
from poc_cli.train import WARMUP_STEPS, Step, train
from poc_cli.train import steady_times
from poc_cli.worker import build_model

CPU = torch.device("cpu")
PROJECT = Path(__file__).resolve().parents[1]
METHODS = [{"method": "lora", "lr": 1e-2}, {"method": "randlora", "lr": 1e-2}, {"method": "vera", "lr": 1e-2, "off_budget": True},
           {"method": "peft", "config": "LoHaConfig", "knob": "r", "lr": 1e-2}, {"method": "full", "lr": 3e-3}]


def _plan(tmp_path: Path, model_dir: Path, data: dict[str, Path], precision: str):  # noqa: ANN202
    recipe = recipe_dict(model_dir, data, methods=METHODS,
                         training={"epochs": 1, "batch_size": 16, "max_length": 16, "precision": precision})
    recipe["budget"] = {"lora_rank": 4, "tolerance": 0.5}
    return make_plan(load_recipe(write_recipe(tmp_path / f"{precision}.yaml", recipe)))


def _frozen_copies_saved(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: object,
                         precision: Precision) -> int:
    """Bytes of the tensors autograd keeps for backward that are copies of a frozen weight in another
    storage: what autocast makes of an fp32 weight and keeps until backward."""
    with torch.no_grad():  # trained as if for a while: an update added to a weight is no longer equal to it
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter))
    frozen: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for parameter in model.parameters():
        if not parameter.requires_grad and parameter.ndim == 2:
            frozen.setdefault(tuple(parameter.shape), []).append(parameter)
    found = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal found
        for weight in frozen.get(tuple(tensor.shape), []):
            if tensor.data_ptr() != weight.data_ptr() and torch.equal(tensor, weight.detach().to(tensor.dtype)):
                found += tensor.numel() * tensor.element_size()
                break
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), precision.autocast():
        task.loss(model, batch)  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16", "fp32"])
def test_a_frozen_base_is_held_in_the_compute_dtype_and_only_what_trains_in_fp32(
        tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path], precision: str) -> None:
    """Under bf16-mixed every PEFT method's frozen base is bf16 (2 bytes a parameter, no autocast copy
    kept for backward) and its adapters and head fp32; full fine-tuning keeps fp32 master weights of
    everything. bf16 and fp32 are as they were."""
    plan = _plan(tmp_path, tiny_model_dir, tiny_data, precision)
    task = task_for(plan.recipe)
    compute = Precision(precision, "cpu")  # type: ignore[arg-type]
    for job in plan.run_jobs({}):
        built = build_model(job, task, plan.splits.labels, CPU, compute)
        dtypes = built.runtime["parameter_dtypes"]
        label = job.allocation.label
        if job.allocation.method == "full":
            assert dtypes["frozen"] == {} and set(dtypes["trainable"]) == {
                "bfloat16" if precision == "bf16" else "float32"}, (label, dtypes)
            continue
        frozen = "float32" if precision == "fp32" else "bfloat16"
        assert set(dtypes["frozen"]) == {frozen}, (label, dtypes)
        # adapters and head: fp32 master weights; at bf16 the head trains in bf16, peft's adapters in fp32
        assert set(dtypes["trainable"]) == ({"float32", "bfloat16"} if precision == "bf16" else {"float32"}), (
            label, dtypes)
        assert built.runtime["loaded_dtype"] == frozen
        if precision == "bf16-mixed":
            encoded = task.encode(plan.splits.train, built.processor, plan.splits.labels, plan.recipe.training)
            batch = next(iter(task.loader(encoded, built.processor, batch_size=16, shuffle=False, seed=0)))
            assert _frozen_copies_saved(built.model, batch, task, compute) == 0, label


def test_the_plan_sizes_an_8b_model_by_arithmetic_at_two_bytes_a_frozen_parameter(tmp_path: Path) -> None:
    """Llama-3.1-8B's architecture (its config, no weights) at bf16-mixed: PEFT holds the frozen base in
    bf16 (about 15 GiB, not the 45 GiB an fp32 base and autocast's copies took), full fine-tuning 18
    bytes a parameter (fp32 weight, gradient, AdamW's two moments, autocast's bf16 copy)."""
    folder = build_decoder("llama", tmp_path / "llama-8b", chat=True)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=False)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "model.safetensors").unlink()
    data = {"train": write_jsonl(tmp_path / "train.jsonl", instruction_rows(32, seed=1)),
            "test": write_jsonl(tmp_path / "test.jsonl", instruction_rows(8, seed=2))}
    recipe = recipe_dict(folder, data, task="causal-lm", methods=[{"method": "lora"}, {"method": "full"}],
                         training={"precision": "bf16-mixed", "max_length": 32},
                         evaluation={"max_new_tokens": 4, "forgetting_passages": 0})
    recipe["budget"] = {"lora_rank": 16}
    done = subprocess.run([sys.executable, "-m", "poc_cli", "plan", str(write_recipe(tmp_path / "r.yaml", recipe)),
                           "--no-estimate", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    total = plan["full_model_parameters"]
    assert total == 8_030_261_248
    by = {m["label"]: m for m in plan["memory_arithmetic"]}
    lora, full = by["lora"], by["full"]
    assert lora["frozen_dtype"] == "bfloat16" and lora["trained_dtype"] == "float32"
    assert lora["frozen_bytes"] == 2 * total
    assert lora["total_bytes"] / 2**30 == pytest.approx(15.66, abs=0.01)
    assert full["frozen_dtype"] is None and full["total_bytes"] == 18 * total  # 134.6 GiB before activations


def test_warm_up_is_timed_apart_and_the_steady_time_leaves_it_out(tiny_model_dir: Path, tiny_data: dict[str, Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A first step made 0.6 s slower (as cuBLAS set-up and the optimizer's first allocation are on a
    GPU): `warmup_s` holds it, the steady time does not, the wall time (what is paid) still does."""
    from test_train import LR, TASK, build

    model, data, _, _ = build(tiny_model_dir, tiny_data, "lora")
    call = Step.__call__
    calls = []

    def slow_first(self: Step, batches: list) -> float:  # noqa: ANN001
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return call(self, batches)

    monkeypatch.setattr(Step, "__call__", slow_first)
    result = train(model, data, task=TASK, training=TrainingSpec(epochs=2), lr=LR["lora"], device=CPU)
    assert result.warmup_steps == WARMUP_STEPS and result.warmup_seconds is not None and result.warmup_seconds > 0.6
    assert result.steady_step_seconds is not None and result.steady_step_seconds < 0.3
    times = steady_times(result, result.seconds)
    assert times["warmup_s"] == result.warmup_seconds
    assert times["steady_train_s"] == pytest.approx(result.seconds - result.warmup_seconds
                                                    + WARMUP_STEPS * result.steady_step_seconds)
    assert result.seconds - times["steady_train_s"] > 0.5  # the one-off second is out of the compared time
    # A run too short to keep a warm-up apart says so rather than guessing.
    short = train(model, data, task=TASK, training=TrainingSpec(steps=3), lr=LR["lora"], device=CPU)
    assert short.warmup_steps == 0 and steady_times(short, short.seconds) == {"warmup_s": None, "steady_train_s": None}


def test_ratios_and_the_time_front_use_the_steady_state_and_the_money_the_wall_time(tiny_store: Path) -> None:
    """From real records: the time front ranks by the steady time, the cost per run is the wall time's."""
    from poc_cli.compare import compare
    from poc_cli.cost import run_cost
    from poc_cli.ranking import COSTS
    from poc_cli.store import Store

    rows = [r for r in compare(Store(tiny_store), recipe="tiny") if r.train_s is not None]
    assert rows
    for row in rows:
        assert row.steady_s is not None and row.warmup_s is not None and row.warmup_s > 0
        assert row.steady_s.mean < row.train_s.mean  # the first steps cost more than steady ones
        # a time taken while other processes kept the machine busy stays off the time front
        assert COSTS["time"](row) == (None if row.loaded else row.steady_s.mean)
        assert row.cost_per_run == pytest.approx(run_cost(row.train_s.mean, row.price))


def test_bf16_is_decided_from_the_compute_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    """A T4 (7.5) emulates bf16, which `torch.cuda.is_bf16_supported()` counts: `auto` means fp16-mixed
    there, and asking for bf16 is refused naming the GPU; an A100 (8.0) computes it."""
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # as torch says on a T4
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))
    assert resolve_precision("auto", gpu) == "fp16-mixed"
    for asked in ("bf16", "bf16-mixed"):
        problem = precision_problem(asked, gpu) or ""
        assert problem.startswith(f"training.precision: {asked} needs a GPU that computes in bf16")
        assert "Tesla T4 is 7.5" in problem and "fp16-mixed" in problem
    assert precision_problem("fp16-mixed", gpu) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))
    assert resolve_precision("auto", gpu) == "bf16-mixed" and precision_problem("bf16", gpu) is None


def test_quantization_checks_bitsandbytes_on_every_gpu_a_job_may_get(monkeypatch: pytest.MonkeyPatch) -> None:
    """`device: cuda` on a (faked) 3-GPU machine: any of them may run a job (`poc run --gpus`), so all
    three are checked; `cuda:2` checks that one."""
    asked: list[tuple[int, ...]] = []
    monkeypatch.setattr(hardware, "find_spec", lambda name: object())
    monkeypatch.setattr(hardware, "bitsandbytes_problem", lambda *indices: asked.append(indices) or None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert hardware.quantization_problem("nf4", torch.device("cuda")) is None
    assert hardware.quantization_problem("int8", torch.device("cuda", 2)) is None
    assert asked == [(0, 1, 2), (2,)]


def test_a_cublas_handle_that_cannot_be_created_is_out_of_memory_and_the_plan_goes_on(
        tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """cuBLAS on a full GPU fails to create its handle ("CUBLAS_STATUS_NOT_INITIALIZED"): the method
    does not fit, the plan's sizing says so and measures the next method instead of aborting."""
    from poc_cli import estimate as module
    from poc_cli.oom import is_out_of_memory

    message = "CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`"
    assert is_out_of_memory(RuntimeError(message))
    plan = _plan(tmp_path, tiny_model_dir, tiny_data, "fp32")
    measure = module._measure

    def full_gpu(job, *args):  # noqa: ANN001, ANN202
        if job.allocation.method == "full":
            raise RuntimeError(message)
        return measure(job, *args)

    monkeypatch.setattr(module, "_measure", full_gpu)
    found = estimate(plan)
    assert found.too_large == ["full"] and found.methods["full"].out_of_memory == message
    assert all(isinstance(t, MethodTiming) and t.step_s > 0 for k, t in found.methods.items() if k != "full")


def test_profile_frees_each_model_before_building_the_next(tmp_path: Path, tiny_model_dir: Path,
                                                           tiny_data: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """When the next method is built, the previous one's model must be gone (a weak reference to it dead):
    on a GPU a model still referenced makes every batch size of the next one a spurious out-of-memory."""
    from poc_cli import profile as module

    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora", "lr": 1e-2}, {"method": "full", "lr": 3e-3}]))
    plan = make_plan(load_recipe(recipe))
    built = module.build_model
    previous: list[weakref.ref] = []
    alive_at_build: list[bool] = []

    def tracked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        alive_at_build.extend(ref() is not None for ref in previous)
        result = built(*args, **kwargs)
        previous.append(weakref.ref(result.model))
        return result

    monkeypatch.setattr(module, "build_model", tracked)
    found = module.profile(plan, batch_sizes=(2,), steps=1)
    assert {p["status"] for p in found["points"]} == {"ok"}
    assert len(previous) == 2 and alive_at_build == [False]


def test_gpu_check_stops_at_once_without_a_gpu(tmp_path: Path) -> None:
    """On a machine where torch sees no GPU the check says so and exits 1 in seconds, with its summary,
    instead of running the demo on the CPU and passing."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check would run in full")
    started = time.monotonic()
    done = subprocess.run(["bash", str(PROJECT / "benchmarks/gpu_check.sh"), str(tmp_path / "out"), "--no-install"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    assert "sees no GPU" in done.stdout and "doctor" not in (tmp_path / "out" / "summary.txt").read_text()
    assert (tmp_path / "out" / "summary.txt").read_text().startswith("gpu                FAIL")


def test_whether_tf32_was_on_is_read_as_torch_has_it() -> None:
    """An fp32 job's speed and results on an Ampere GPU depend on TF32: the record says what torch's switches
    were (read without touching CUDA, so this runs on the CPU too); on the CPU there is nothing to say."""
    from poc_cli.worker import tf32_state

    assert tf32_state(CPU) is None
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        for matmul, cudnn in ((True, False), (False, True)):
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
            assert tf32_state(torch.device("cuda", 0)) == {"matmul": matmul, "cudnn": cudnn}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
