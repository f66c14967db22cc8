"""Wall time of one 4-job recipe run by each executor, side by side, with ratios to one job at a time.

The recipe: a tiny random BERT (built here from a config, its vocabulary the commonest words of
SST-2's train split) fine-tuned on 512 SST-2 sentences by LoRA and by full fine-tuning at two
seeds, 750 steps each. Each contender is a real `poc run` into a fresh store:

    python benchmarks/executors.py [--steps 750] [--no-ray]

`--executor ray` starts its own local Ray cluster (token authentication, as Ray's default), so
its figure includes Ray's start and each worker's cold start.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def tiny_model(folder: Path) -> Path:
    """A 2-layer BERT (hidden 32) whose WordPiece vocabulary is SST-2's 3,000 commonest words."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    counts = collections.Counter(word for line in (SST2 / "train.jsonl").read_text().splitlines()
                                 for word in re.findall(r"\w+", json.loads(line)["text"].lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w, _ in counts.most_common(3000)]
    BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=64)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def recipe(folder: Path, steps: int) -> Path:
    path = folder / "four.yaml"
    path.write_text(yaml.safe_dump({
        "name": "four", "model": str(tiny_model(folder / "model")),
        "data": {"train": str(SST2 / "train.jsonl"), "test": str(SST2 / "test.jsonl"), "max_train_examples": 512},
        "budget": {"lora_rank": 4}, "methods": [{"method": "lora", "lr": 1e-2}, {"method": "full", "lr": 3e-3}],
        "training": {"steps": steps, "batch_size": 16, "max_length": 32}, "seeds": [0, 1],
    }, sort_keys=False))
    return path


def wall(path: Path, store: Path, *args: str, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(path), "--store", str(store), *args],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"poc run {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=750)
    parser.add_argument("--no-ray", action="store_true", help="leave Ray out")
    options = parser.parse_args()
    if not SST2.is_dir():
        sys.exit(f"{SST2} is absent: this benchmark reads SST-2 from ../shared/data")
    with tempfile.TemporaryDirectory(prefix="poc-executors-") as tmp:
        folder = Path(tmp)
        path = recipe(folder, options.steps)
        contenders = {"--parallel 1": ("--parallel", "1"), "--parallel 2": ("--parallel", "2")}
        if not options.no_ray:
            contenders["--executor ray (own local cluster)"] = ("--executor", "ray")
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        times = {name: wall(path, folder / f"store-{i}", *args, env=env)
                 for i, (name, args) in enumerate(contenders.items())}
    base = times["--parallel 1"]
    print(f"4 jobs (LoRA, full x 2 seeds, {options.steps} steps), {os.cpu_count()} CPU cores")
    for name, seconds in times.items():
        print(f"  {name:36} {seconds:6.1f} s   {seconds / base:.2f}x of --parallel 1")


if __name__ == "__main__":
    main()
