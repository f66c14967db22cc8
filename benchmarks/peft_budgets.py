"""Every method's setting and exact count at LoRA rank 8's budget on real architectures, built on the
meta device (no weights): MiniLM (the demo's model), ViT-B/16, CLIP ViT-B/32 and Llama-3.2-1B.

    python benchmarks/peft_budgets.py [--rank 8]

Prints one markdown table per model: the fitted setting, trainable adapter parameters, the deviation
from the budget (or, off the budget, the share reached) and the frozen shared matrices a method adds.
"""

from __future__ import annotations

import argparse
import time

from transformers import CLIPConfig, LlamaConfig, ViTConfig

from poc_cli.budget import allocate
from poc_cli.modelhub import describe, load_config, resolve_model
from poc_cli.recipe import DataSpec, Recipe
from poc_cli.tasks.causal_lm import CausalLM
from poc_cli.tasks.image_classification import ImageClassification
from poc_cli.tasks.image_text import ImageText
from poc_cli.tasks.text_classification import TextClassification

DATA = DataSpec(train="t", test="t")
METHODS = [{"method": "lora"}, {"method": "dora"}, {"method": "rslora"}, {"method": "pissa"}, {"method": "olora"},
           {"method": "vera", "off_budget": True}, {"method": "peft", "config": "LoHaConfig", "knob": "r"},
           {"method": "peft", "config": "FourierFTConfig", "knob": "n_frequency"},
           {"method": "peft", "config": "OFTConfig", "knob": "oft_block_size", "options": {"r": 0},
            "off_budget": True},
           {"method": "peft", "config": "IA3Config", "options": {"feedforward_modules": []}},  # no knob: its own count
           {"method": "randlora"}, {"method": "full"}]


def models() -> dict[str, tuple[object, object]]:
    minilm = TextClassification(DATA)
    return {
        "all-MiniLM-L6-v2": (minilm, load_config(minilm, resolve_model("builtin:all-MiniLM-L6-v2"), ("a", "b"),
                                                 field_value="m")),
        "ViT-B/16": (ImageClassification(DATA), ViTConfig(num_labels=2)),
        "CLIP ViT-B/32": (ImageText(DATA), CLIPConfig()),
        # meta-llama/Llama-3.2-1B's config.json
        "Llama-3.2-1B": (CausalLM(DATA), LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                                                     num_hidden_layers=16, num_attention_heads=32,
                                                     num_key_value_heads=8, tie_word_embeddings=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=8)
    rank = parser.parse_args().rank
    for name, (task, config) in models().items():
        started = time.perf_counter()
        arch = describe(task.skeleton(config), None, task)  # type: ignore[attr-defined]
        recipe = Recipe.model_validate({"name": "b", "model": "m", "task": task.name,  # type: ignore[attr-defined]
                                        "data": {"train": "t", "test": "t"}, "budget": {"lora_rank": rank},
                                        "methods": METHODS})
        allocations = allocate(recipe, arch)
        print(f"\n{name}: {len(arch.layers)} target layers, budget {allocations[0].budget:,} "
              f"(LoRA r={rank}), fitted in {time.perf_counter() - started:.1f} s\n")
        print("| method | setting | trainable (adapter) | vs budget | frozen shared |")
        print("|---|---|--:|--:|--:|")
        for a in allocations:
            knob = {k: v for k, v in a.settings.items() if k not in {"alpha", "dropout", "d_initial", "implementation",
                                                                     "sparse", "very_sparse", "config"}}
            setting = ", ".join(f"{k}={v}" for k, v in knob.items()) or "-"
            if a.deviation is None:
                versus = "reference"
            elif a.off_budget:
                versus = f"off budget: {a.adapter_parameters / a.budget:.1%} of it"
            else:
                versus = f"{a.deviation:+.2%}"
            frozen = f"{a.frozen_parameters:,}" if a.frozen_parameters else "-"
            print(f"| {a.label} | {setting} | {a.adapter_parameters:,} | {versus} | {frozen} |")


if __name__ == "__main__":
    main()
