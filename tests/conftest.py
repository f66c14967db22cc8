"""Shared fixtures: a tiny random BERT saved as a real model folder, tiny real data files."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"

POSITIVE = ["good", "great", "fine", "happy", "nice", "superb"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly", "dull"]
FILLER = ["the", "movie", "was", "really", "plot", "actors", "and", "quite", "very", "story"]


def needs_shared_data() -> pytest.MarkDecorator:
    """Skip (with the reason) where ../shared/data is absent."""
    return pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent")


def make_examples(n: int, seed: int) -> list[dict[str, str]]:
    """A learnable sentiment task: a sentiment word among filler words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "positive" else NEGATIVE)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT (hidden 32) with its own WordPiece vocabulary, saved like a hub model."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(POSITIVE + NEGATIVE + FILLER))
    BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=48, max_position_embeddings=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,  # learns in ~90 steps without dropout
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train / test jsonl files of the learnable task."""
    folder = tmp_path_factory.mktemp("tiny-data")
    return {
        "train": write_jsonl(folder / "train.jsonl", make_examples(96, seed=1)),
        "test": write_jsonl(folder / "test.jsonl", make_examples(40, seed=2)),
    }


def recipe_dict(model_dir: Path, data: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    """A valid recipe on the tiny model; top-level keys in `overrides` replace the defaults."""
    recipe: dict[str, Any] = {
        "name": "tiny",
        "model": str(model_dir),
        "data": {"train": str(data["train"]), "test": str(data["test"])},
        "budget": {"lora_rank": 4},
        "methods": [{"method": "lora", "lr": 1e-2}, {"method": "randlora", "lr": 1e-2, "alpha_ratio": 2},
                    {"method": "full", "lr": 3e-3}],
        "training": {"epochs": 2, "batch_size": 16, "max_length": 16},
        "seeds": [0],
    }
    recipe.update(overrides)
    return recipe


def row_name(line: str) -> str | None:
    """The method a line of compare's table starts, after its rank (trained methods have one)."""
    words = line.split()
    if words and words[0].isdigit():
        words = words[1:]
    return words[0] if words else None


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_recipe(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """A valid recipe file for the tiny model and data."""
    return write_recipe(tmp_path / "recipe.yaml", recipe_dict(tiny_model_dir, tiny_data))


XSS_NAME = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """A store from real runs: two seeds of LoRA, RandLoRA and full fine-tuning (with cost and
    business settings), and a recipe named like an XSS attack whose only job timed out."""
    import os
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("store")
    root = folder / "store"
    env = {**os.environ, "COLUMNS": "200"}
    good = write_recipe(folder / "good.yaml", recipe_dict(
        tiny_model_dir, tiny_data, seeds=[0, 1], training={"epochs": 12, "batch_size": 16, "max_length": 16},  # 72 steps: all learn
        cost={"gpu_hourly_price": 2.0, "currency": "EUR", "target_train_examples": 100000, "target_epochs": 2},
        business={"positive_class": "positive", "cost_missed": 100, "cost_false_alarm": 5,
                  "monthly_items": 20000, "minutes_per_item": 1.5, "hourly_rate": 40}))
    slow = write_recipe(folder / "slow.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name=XSS_NAME, methods=[{"method": "lora"}],
        training={"steps": 100000, "timeout_minutes": 0.1, "max_length": 16}))
    for recipe, code in ((good, 0), (slow, 1)):
        proc = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(recipe), "--store", str(root)],
                              capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == code, proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="session")
def collapsed_store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """A store from real runs where LoRA's learning rate is so high that it predicts one class for
    every test example (accuracy = the majority class's 50%), while RandLoRA learns."""
    import os
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("collapsed")
    recipe = write_recipe(folder / "collapsed.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name="collapsed",
        methods=[{"method": "lora", "lr": 0.3}, {"method": "randlora", "lr": 1e-2, "alpha_ratio": 2}],
        training={"epochs": 12, "batch_size": 16, "max_length": 16}, cost={"gpu_hourly_price": 450, "currency": "JPY"}))
    proc = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(recipe), "--store", str(folder / "store")],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder / "store"


# --- vision: tiny random models built from configs, saved like hub models -------------------------

IMAGE_SIZE = 32
WORDS = ["a", "photo", "of", "defect", "ok", "ankle", "boot", "bag", "coat", "dress", "pullover", "sandal",
         "shirt", "sneaker", "t", "trouser", "-", "."]


def _tiny_tokenizer(folder: Path) -> int:
    """A WordPiece tokenizer over the prompt words; returns its [SEP] id (the text towers pool there)."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
    BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}).save_pretrained(folder)
    return vocab.index("[SEP]")


def _tower(**extra: Any) -> dict[str, Any]:
    return {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 48, **extra}


def build_vision_model(kind: str, folder: Path) -> Path:
    """Save a tiny random `vit`, `dinov2`, `clip` or `siglip` model with its processor(s) in `folder`."""
    from transformers import (BitImageProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel, Dinov2Config,
                              Dinov2ForImageClassification, SiglipConfig, SiglipImageProcessor, SiglipModel,
                              ViTConfig, ViTForImageClassification, ViTImageProcessor)

    torch.manual_seed(0)
    square = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    if kind == "vit":
        ViTImageProcessor(size=square).save_pretrained(folder)
        ViTForImageClassification(ViTConfig(**_tower(), image_size=IMAGE_SIZE, patch_size=8)).save_pretrained(folder)
    elif kind == "dinov2":
        BitImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size=square).save_pretrained(folder)
        config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                              image_size=IMAGE_SIZE, patch_size=8)
        Dinov2ForImageClassification(config).save_pretrained(folder)
    elif kind == "clip":
        sep = _tiny_tokenizer(folder)
        CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size=square).save_pretrained(folder)
        config = CLIPConfig(text_config=_tower(vocab_size=len(WORDS) + 5, max_position_embeddings=16,
                                               eos_token_id=sep, bos_token_id=2, pad_token_id=0),
                            vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8), projection_dim=16)
        CLIPModel(config).save_pretrained(folder)
    elif kind == "siglip":
        _tiny_tokenizer(folder)
        SiglipImageProcessor(size=square).save_pretrained(folder)
        config = SiglipConfig(text_config=_tower(vocab_size=len(WORDS) + 5, max_position_embeddings=16),
                              vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8))
        SiglipModel(config).save_pretrained(folder)
    else:
        raise ValueError(kind)
    return folder


@pytest.fixture(scope="session")
def vision_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four tiny vision models, each in its own folder."""
    return {kind: build_vision_model(kind, tmp_path_factory.mktemp(f"tiny-{kind}"))
            for kind in ("vit", "dinov2", "clip", "siglip")}


ELPV = SHARED_DATA / "elpv"
FASHION = SHARED_DATA / "fashion-mnist"


def image_recipe(model_dir: Path, task: str, data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid recipe for an image task on a tiny model."""
    recipe: dict[str, Any] = {
        "name": f"tiny-{task}", "model": str(model_dir), "task": task, "data": data, "budget": {"lora_rank": 2},
        "methods": [{"method": "lora", "lr": 5e-3}, {"method": "randlora", "lr": 5e-3, "alpha_ratio": 2},
                    {"method": "full", "lr": 1e-3}],
        "training": {"epochs": 2, "batch_size": 16, "eval_batch_size": 32}, "seeds": [0],
    }
    recipe.update(overrides)
    return recipe


# --- causal LM: tiny random decoders with a word-level tokenizer ----------------------------------

CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
                 "{% if add_generation_prompt %}<assistant> {% endif %}")
LM_WORDS = sorted(set(POSITIVE + NEGATIVE + FILLER + ["sentiment", "of", "what", "is", "<user>", "<assistant>",
                                                      "<system>", "positive", "negative", ":"]))


def build_decoder(kind: str, folder: Path, *, chat: bool) -> Path:
    """Save a tiny random `llama` or `gpt2` causal LM with a word-level tokenizer (a chat template if asked)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + LM_WORDS
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=False,
                                  eos_token="[SEP]", pad_token="[PAD]")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<user>", "<assistant>", "<system>"]})
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=48,
                                             num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                             max_position_embeddings=128, eos_token_id=3, pad_token_id=0,
                                             bos_token_id=2))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                           eos_token_id=3, pad_token_id=0, bos_token_id=2))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Llama with a chat template and a tiny GPT-2 without one."""
    return {"llama": build_decoder("llama", tmp_path_factory.mktemp("tiny-llama"), chat=True),
            "gpt2": build_decoder("gpt2", tmp_path_factory.mktemp("tiny-gpt2"), chat=False)}


def instruction_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Prompt / response rows of the learnable sentiment task, with choices."""
    return [{"prompt": f"what is the sentiment of : {r['text']}", "response": r["label"],
             "choices": ["positive", "negative"]} for r in make_examples(n, seed)]


# --- bitsandbytes: the gpu extra's, not installed here ----------------------------------------------


@pytest.fixture()
def bitsandbytes_stand_in(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A stand-in `bitsandbytes` package first on PYTHONPATH that appends the PID of every process
    importing it to a file: (that environment, the file). It has none of bitsandbytes' layers."""
    import os

    package = tmp_path / "site" / "bitsandbytes"
    package.mkdir(parents=True)
    marker = tmp_path / "imported-by"
    package.joinpath("__init__.py").write_text(
        f"import os\nwith open({str(marker)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n")
    path = os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}, marker


M3 = SHARED_DATA / "m3-monthly"
TOURISM = SHARED_DATA / "tourism-monthly"


def build_forecaster(kind: str, folder: Path, *, horizon: int = 24, context: int = 32) -> Path:
    """Save a tiny random TimesFM or PatchTST (no pretrained time-series weights exist offline)."""
    from transformers import PatchTSTConfig, PatchTSTForPrediction, TimesFmConfig, TimesFmModelForPrediction

    torch.manual_seed(0)
    if kind == "timesfm":
        model = TimesFmModelForPrediction(TimesFmConfig(
            patch_length=8, context_length=context, horizon_length=horizon, hidden_size=32, intermediate_size=32,
            head_dim=8, num_attention_heads=4, num_hidden_layers=2, quantiles=[0.1, 0.5, 0.9]))
    else:
        model = PatchTSTForPrediction(PatchTSTConfig(
            num_input_channels=1, context_length=context, prediction_length=horizon, patch_length=8, patch_stride=8,
            d_model=32, num_attention_heads=4, num_hidden_layers=2, ffn_dim=32))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def forecasters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random TimesFM and a tiny random PatchTST, saved like hub models."""
    return {kind: build_forecaster(kind, tmp_path_factory.mktemp(f"tiny-{kind}")) for kind in ("timesfm", "patchtst")}


def series_subset(source: Path, folder: Path, series: int, *, category: str | None = None) -> dict[str, Path]:
    """The first `series` series of a real ../shared/data set (train and test tables), in `folder`."""
    import pandas as pd

    info = pd.read_csv(source / "series.csv")
    if category is not None:
        info = info[info["category"] == category]
    names = set(info["series_id"].head(series))
    out = {}
    for split in ("train", "test"):
        table = pd.read_csv(source / f"{split}.csv")
        out[split] = folder / f"{split}.csv"
        table[table["series_id"].isin(names)].to_csv(out[split], index=False)
    return out
