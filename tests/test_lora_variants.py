"""The LoRA variants (DoRA, rsLoRA, PiSSA, OLoRA): counts equal peft's on real architectures, each fitted
to the budget (each trains through a real `poc run` in test_peft_methods.py, with every other method)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import CLIPConfig, LlamaConfig, ViTConfig

from poc_cli.budget import allocate
from poc_cli.methods import get_method
from poc_cli.modelhub import describe
from poc_cli.recipe import DataSpec, Recipe
from poc_cli.tasks.causal_lm import CausalLM
from poc_cli.tasks.image_classification import ImageClassification
from poc_cli.tasks.image_text import ImageText

VARIANTS = ("dora", "rslora", "pissa", "olora")
DATA = DataSpec(train="t", test="t")
# Llama-3.2-1B's architecture (meta-llama/Llama-3.2-1B config.json): built on the meta device only.
LLAMA_1B = LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True)


def _peft_count(model: torch.nn.Module, method: str, r: int, targets: list[str], head: list[str]) -> int:
    """What peft trains on `model` for `method` at rank r. PiSSA's and OLoRA's initialisations (an SVD, a
    QR) need real weights, so on the meta device they are counted with LoRA's: their counts are LoRA's."""
    config = LoraConfig(r=r, target_modules=targets, modules_to_save=head or None, use_dora=method == "dora",
                        use_rslora=method == "rslora")
    return get_peft_model(model, config).get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("kind", ["vit-b16", "clip-b32", "llama-3.2-1b"])
def test_variant_counts_equal_peft_on_real_architectures(kind: str) -> None:
    task, config = {"vit-b16": (ImageClassification(DATA), ViTConfig(num_labels=2)),
                    "clip-b32": (ImageText(DATA), CLIPConfig()),
                    "llama-3.2-1b": (CausalLM(DATA), LLAMA_1B)}[kind]
    arch = describe(task.skeleton(config), None, task)
    recipe = Recipe.model_validate({"name": "b", "model": "m", "task": task.name, "data": {"train": "t", "test": "t"},
                                    "budget": {"lora_rank": 8, "allow_deviation": True},
                                    "methods": [{"method": m} for m in VARIANTS]})
    for allocation in allocate(recipe, arch):
        if allocation.method == "dora":  # some layers one rank above the rest: within half a layer's rank
            widest = max(layer.in_features + layer.out_features for layer in arch.layers)
            assert abs(allocation.adapter_parameters - allocation.budget) <= widest / 2, kind
            continue  # its count against peft's, rank pattern and all: test_peft_methods.py
        assert allocation.deviation == 0, (kind, allocation.method)  # LoRA's count: exact
        model = task.skeleton(config)
        counted = _peft_count(model, allocation.method, allocation.r, [layer.name for layer in arch.layers],
                              list(arch.head_modules))
        assert counted == allocation.trainable_parameters, (kind, allocation.method)
    dora = get_method("dora")
    assert dora.count(arch, 8) - get_method("lora").count(arch, 8) == sum(layer.out_features for layer in arch.layers)


def test_variants_apply_their_option_and_count_on_a_real_model(tiny_model_dir: Path) -> None:
    """On real weights the variants build with their own initialisation (PiSSA's SVD, OLoRA's QR) and
    still train exactly the planned count; PiSSA and OLoRA change the frozen weights, LoRA does not."""
    from poc_cli.tasks.text_classification import TextClassification

    task = TextClassification(DataSpec(train="t", test_fraction=0.5))
    config = task.config(str(tiny_model_dir), ("a", "b"))
    for method in ("lora", *VARIANTS):
        torch.manual_seed(0)
        model = task.load_model(str(tiny_model_dir), config)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        arch = describe(model, None, task)
        built = get_method(method).apply(model, spec=get_method(method).SPEC(method=method), r=4, arch=arch, seed=0)
        assert built.get_nb_trainable_parameters()[0] == get_method(method).count(arch, 4) + arch.head_parameters
        lora_config = built.peft_config["default"]
        assert lora_config.use_dora == (method == "dora") and lora_config.use_rslora == (method == "rslora")
        assert lora_config.init_lora_weights == {"pissa": "pissa", "olora": "olora"}.get(method, True)
        changed = any(not torch.equal(p, before[n.replace("base_model.model.", "").replace(".base_layer", "")])
                      for n, p in built.named_parameters() if not p.requires_grad and "lora_" not in n
                      and n.replace("base_model.model.", "").replace(".base_layer", "") in before)
        assert changed == (method in {"pissa", "olora"}), method
