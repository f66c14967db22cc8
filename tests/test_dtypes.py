"""The dtypes a job really loads, trains and computes in, from checkpoints saved in fp32, bf16 and fp16.

transformers 5 loads a checkpoint in its own dtype unless told otherwise: without an explicit
dtype a bf16 hub checkpoint trains in bf16 under `precision: fp32`. These tests save tiny real
models in each dtype and build every method's job as `poc run` does (`worker.build_model`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from conftest import instruction_rows, recipe_dict, write_jsonl, write_recipe
from poc_cli.data import load_splits
from poc_cli.dtypes import to_master_weights
from poc_cli.hardware import Precision
from poc_cli.methods import get_method
from poc_cli.methods.randlora_fast import Path as Route
from poc_cli.methods.randlora_fast import choose_path
from poc_cli.plan import Job, make_plan
from poc_cli.recipe import load_recipe
from poc_cli.tasks import task_for
from poc_cli.train import Step
from poc_cli.worker import Built, build_model

CPU = torch.device("cpu")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@pytest.fixture(scope="module")
def saved_bert(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny BERT saved as checkpoints in fp32, bf16 and fp16 (as hub checkpoints ship)."""
    out = {}
    for name, dtype in DTYPES.items():
        folder = tmp_path_factory.mktemp(f"bert-{name}")
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
        AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).to(dtype).save_pretrained(folder)
        out[name] = folder
    return out


def jobs(tmp_path: Path, model_dir: Path, tiny_data: dict[str, Path], precision: str) -> dict[str, Job]:
    """Each method's seeded run, planned from a recipe at `precision` on the CPU."""
    recipe = write_recipe(tmp_path / f"{precision}.yaml", recipe_dict(
        model_dir, tiny_data, training={"epochs": 1, "batch_size": 16, "max_length": 16, "precision": precision,
                                        "device": "cpu"}))
    plan = make_plan(load_recipe(recipe))
    return {job.allocation.method: job for job in plan.run_jobs({})}


def build(job: Job, precision: Precision) -> Built:
    task = task_for(job.recipe)
    return build_model(job, task, ("negative", "positive"), CPU, precision)


@pytest.mark.parametrize("saved", sorted(DTYPES))
@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed", "bf16"])
def test_weights_load_in_the_dtype_the_precision_names(tmp_path: Path, saved_bert: dict[str, Path],
                                                       tiny_data: dict[str, Path], saved: str, precision: str) -> None:
    for method, job in jobs(tmp_path, saved_bert[saved], tiny_data, precision).items():
        built = build(job, Precision(precision, "cpu"))  # type: ignore[arg-type]
        dtypes = built.runtime["parameter_dtypes"]
        frozen, trainable = set(dtypes["frozen"]), set(dtypes["trainable"])
        # bf16 loads bf16; bf16-mixed a frozen base in its compute dtype, full fine-tuning's fp32 master weights
        weights = "bfloat16" if precision == "bf16" or (precision == "bf16-mixed" and method != "full") else "float32"
        assert built.runtime["loaded_dtype"] == weights
        if method != "full":
            assert frozen == {weights}, (saved, precision, method, dtypes)
        if precision == "bf16":  # trains in bf16: peft's adapters are fp32, full fine-tuning's weights bf16
            assert trainable == ({"bfloat16"} if method == "full" else {"float32", "bfloat16"}), (method, dtypes)
        else:  # fp32 master weights under autocast
            assert trainable == {"float32"}, (saved, precision, method, dtypes)
        assert built.runtime["precision"] == precision and built.runtime["device"] == "cpu"


def test_a_bf16_llama_loads_in_fp32_for_fp32_and_mixed(tmp_path: Path, decoders: dict[str, Path]) -> None:
    folder = tmp_path / "llama-bf16"
    AutoTokenizer.from_pretrained(decoders["llama"]).save_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(decoders["llama"]).to(torch.bfloat16).save_pretrained(folder)
    data = {"train": write_jsonl(tmp_path / "train.jsonl", instruction_rows(32, seed=1)),
            "test": write_jsonl(tmp_path / "test.jsonl", instruction_rows(8, seed=2))}
    for precision in ("fp32", "bf16-mixed"):
        recipe = recipe_dict(folder, data, task="causal-lm", methods=[{"method": "full", "lr": 1e-3}],
                             training={"epochs": 1, "batch_size": 8, "max_length": 64, "precision": precision},
                             evaluation={"max_new_tokens": 2, "forgetting_passages": 0})
        plan = make_plan(load_recipe(write_recipe(tmp_path / f"{precision}.yaml", recipe)))
        job = next(j for j in plan.run_jobs({}) if j.allocation.method == "full")
        built = build_model(job, task_for(job.recipe), (), CPU, Precision(precision, "cpu"))  # type: ignore[arg-type]
        assert {p.dtype for p in built.model.parameters()} == {torch.float32}
        assert built.runtime["parameter_dtypes"]["trainable"] == {"float32": sum(
            p.numel() for p in built.model.parameters())}


def _one_step(built: Built, job: Job, precision: Precision) -> None:
    """One training step of the built model on a batch of its recipe's data."""
    task = task_for(job.recipe)
    frame = load_splits(job.recipe.data, task).train
    data = task.encode(frame, built.processor, ("negative", "positive"), job.recipe.training)
    batch = next(iter(task.loader(data, built.processor, batch_size=8, shuffle=False, seed=0)))
    Step(built.model, task=task, training=job.recipe.training, lr=1e-3, steps=2, precision=precision)([batch])


def test_fp16_mixed_on_an_fp16_checkpoint_hands_the_scaler_fp32_parameters(
        tmp_path: Path, saved_bert: dict[str, Path], tiny_data: dict[str, Path]) -> None:
    """fp16's scaler refuses fp16 gradients ("Attempting to unscale FP16 gradients"): the weights load
    in fp32 whatever the checkpoint, so full fine-tuning and the adapters' head step (CPU autocast
    stands in for the GPU's)."""
    fp16 = Precision("fp16-mixed", "cpu")
    for method, job in jobs(tmp_path, saved_bert["fp16"], tiny_data, "fp32").items():
        built = build(job, fp16)
        assert set(built.runtime["parameter_dtypes"]["trainable"]) == {"float32"}, method
        _one_step(built, job, fp16)


def test_master_weights_upcast_what_trains_and_say_so(tmp_path: Path, saved_bert: dict[str, Path],
                                                      tiny_data: dict[str, Path]) -> None:
    """A head left in fp16 (as a quantized base leaves the parts bitsandbytes does not quantize) makes
    fp16's scaler raise; made fp32 by `to_master_weights`, the step runs and the record names it."""
    fp16 = Precision("fp16-mixed", "cpu")
    job = jobs(tmp_path, saved_bert["fp16"], tiny_data, "fp32")["lora"]
    built = build(job, fp16)
    head = [p for n, p in built.model.named_parameters() if p.requires_grad and "classifier" in n]
    for parameter in head:
        parameter.data = parameter.data.half()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        _one_step(built, job, fp16)
    upcast = to_master_weights(built.model, fp16)
    assert upcast["tensors"] == len(head) == 2 and upcast["parameters"] == sum(p.numel() for p in head)
    assert all("classifier" in name for name in upcast["names"])
    built.model.zero_grad(set_to_none=True)
    _one_step(built, job, fp16)
    assert to_master_weights(built.model, Precision("bf16", "cpu"))["tensors"] == 0  # bf16 trains in bf16


class MatmulDtypes(TorchDispatchMode):
    """The dtypes of every matrix product that runs inside the mode (forward and backward)."""

    PRODUCTS = ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear")

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func.overloadpacket.__name__ in self.PRODUCTS:
            self.seen |= {a.dtype for a in args if isinstance(a, torch.Tensor)}
        return func(*args, **(kwargs or {}))


def _randlora_layer(implementation: str) -> tuple[nn.Module, nn.Module]:
    """A two-layer bf16 model with RandLoRA on both (k = 16 bases of rank 4 for min 64)."""
    from poc_cli.methods.randlora import RandLoraSpec
    from poc_cli.modelhub import Architecture
    from poc_cli.targets import Layer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 96), nn.Linear(96, 64)).to(torch.bfloat16)
    arch = Architecture(layers=(Layer("0", 64, 96), Layer("1", 96, 64)), head_modules=(), head_parameters=0,
                        total_parameters=0)
    spec = RandLoraSpec(method="randlora", alpha_ratio=2, implementation=implementation)
    peft_model = get_method("randlora").apply(model, spec=spec, r=4, arch=arch, seed=0)
    for name, p in peft_model.named_parameters():  # lambda starts at zero: give the update a size
        if "randlora_lambda" in name:
            p.data.normal_()
    return peft_model, model


@pytest.mark.parametrize("tokens", [2, 512])  # peft's factorised path at 2 tokens, the fused one at 512
def test_poc_randlora_computes_in_bf16_at_precision_bf16(tokens: int) -> None:
    seen = {}
    for implementation in ("poc", "peft"):
        model, _ = _randlora_layer(implementation)
        x = torch.randn(tokens, 64, dtype=torch.bfloat16)
        with MatmulDtypes() as mode:
            model(x).float().square().sum().backward()
        seen[implementation] = mode.seen
        assert all(p.grad is not None for n, p in model.named_parameters() if "randlora_" in n and p.requires_grad)
    assert seen["poc"] == {torch.bfloat16}, seen  # as the bf16 layers it adapts
    assert torch.float32 in seen["peft"]  # peft's follows its fp32 bases


def test_path_choice_counts_bytes() -> None:
    """At 128 tokens through a 64 x 256 layer (k = 64), W + Delta W (16,384 elements) is more elements
    than peft keeps (128 k + 64 k = 12,288) but fewer bytes in bf16 (32 KiB) than peft's fp32 (48 KiB)."""
    assert choose_path(128, 64, 256, 64) is not Route.FUSED_KEEP
    assert choose_path(128, 64, 256, 64, compute_bytes=2, peft_bytes=4) is Route.FUSED_KEEP
    assert choose_path(128, 64, 256, 64, compute_bytes=2, peft_bytes=2) is not Route.FUSED_KEEP


def test_the_record_names_the_implementation_that_ran() -> None:
    from peft.tuners.randlora.layer import Linear as PeftRandLoraLinear

    randlora = get_method("randlora")
    assert randlora.implementation(_randlora_layer("poc")[0]) == "poc"
    assert randlora.implementation(_randlora_layer("peft")[0]) == "peft"
    model, _ = _randlora_layer("poc")
    next(m for m in model.modules() if type(m).__name__ == "FastRandLoraLinear").__class__ = PeftRandLoraLinear
    assert randlora.implementation(model) == "poc on 1 of 2 layers, peft on the rest (Linear)"
