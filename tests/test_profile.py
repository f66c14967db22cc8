"""`poc profile`: real training steps per method, basis variant and batch size; an out-of-memory
batch is a measurement, never a crash; the profile is stored apart from the runs and reported."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import XSS_NAME, recipe_dict, write_recipe
from poc_cli.profile_results import largest_fitting
from poc_cli.store import Store

ENV = {**os.environ, "COLUMNS": "200"}
POC = [sys.executable, "-m", "poc_cli"]


def poc(*args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def cap() -> None:  # a real allocation failure on this CPU: the address space is capped
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return subprocess.run([*POC, *args], capture_output=True, text=True, env=ENV, timeout=900,
                          preexec_fn=cap if limit_bytes else None)


def test_profile_measures_every_method_and_basis_variant(tmp_path: Path, tiny_model_dir: Path,
                                                         tiny_data: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "recipe.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora", "lr": 1e-2},
                                            {"method": "randlora", "lr": 1e-2, "sparse": True},
                                            {"method": "full", "lr": 3e-3}]))
    store = tmp_path / "store"
    done = poc("profile", str(recipe), "--store", str(store), "--batch-sizes", "8,2", "--steps", "3", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    keys = [(p["label"], p["bases"], p["batch_size"]) for p in found["points"]]
    # RandLoRA in the recipe's variant first, then the others; batch sizes ascending
    assert keys == [("lora", None, 2), ("lora", None, 8),
                    ("randlora", "sparse", 2), ("randlora", "sparse", 8),
                    ("randlora", "dense", 2), ("randlora", "dense", 8),
                    ("randlora", "very sparse", 2), ("randlora", "very sparse", 8),
                    ("full", None, 2), ("full", None, 8)]
    assert [p["in_recipe"] for p in found["points"]][2:8] == [True, True, False, False, False, False]
    for p in found["points"]:
        assert p["status"] == "ok", p
        assert p["step_s"] > 0 and p["peak_memory_mib"] > 100  # the host RSS of a process that imported torch
        assert p["examples_per_s"] == pytest.approx(p["batch_size"] / p["step_s"])
        assert 0 < p["tokens_per_s"] <= 16 * p["batch_size"] / p["step_s"] * 1.5  # max_length 16
    assert found["memory_kind"] == "host" and found["device"] == "cpu" and found["steps"] == 3
    # Stored apart from the runs: the store has no run records, and a second profile adds a file.
    stored = sorted((store / "tiny" / "profiles").glob("*.json"))
    assert [str(p) for p in stored] == [found["path"]]
    assert Store(store).scan().records == []
    again = poc("profile", str(recipe), "--store", str(store), "--batch-sizes", "2", "--steps", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Load profile" in again.stdout and "(v)" in again.stdout
    assert len(list((store / "tiny" / "profiles").glob("*.json"))) == 2
    assert Store(store).latest_profile("tiny")["batch_sizes"] == [2]


def test_out_of_memory_is_recorded_and_larger_batches_skipped(tmp_path: Path, tiny_model_dir: Path,
                                                              tiny_data: dict[str, Path]) -> None:
    """The address space capped at 4 GiB: batch 2 fits, batch 200,000 cannot be allocated (a real
    CPU out-of-memory error), the larger one is skipped, and the next method still runs."""
    recipe = write_recipe(tmp_path / "recipe.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora", "lr": 1e-2}, {"method": "full", "lr": 3e-3}]))
    store = tmp_path / "store"
    done = poc("profile", str(recipe), "--store", str(store), "--batch-sizes", "2,200000,400000", "--steps", "1",
               "--json", limit_bytes=4 * 2**30)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    by = {(p["label"], p["batch_size"]): p for p in found["points"]}
    for label in ("lora", "full"):
        assert by[(label, 2)]["status"] == "ok"
        assert by[(label, 200000)]["status"] == "oom", by[(label, 200000)]
        assert "allocate" in by[(label, 200000)]["error"]
        assert by[(label, 400000)]["status"] == "skipped"
        assert by[(label, 400000)]["step_s"] is None
    assert largest_fitting(found, None) == {("lora", None): 2, ("full", None): 2}


def test_largest_fitting_uses_the_limit() -> None:
    points = [{"label": "lora", "bases": None, "batch_size": b, "status": s, "peak_memory_mib": m}
              for b, s, m in ((8, "ok", 900.0), (16, "ok", 1500.0), (32, "oom", None))]
    profile = {"points": points, "capacity_mib": 4000.0}
    assert largest_fitting(profile, 1000.0) == {("lora", None): 8}
    assert largest_fitting(profile, None) == {("lora", None): 16}  # the device's capacity
    assert largest_fitting(profile, 500.0) == {("lora", None): None}


@pytest.mark.parametrize("args, names", [
    (["--batch-sizes", "8,x"], "--batch-sizes"),
    (["--batch-sizes", "0"], "--batch-sizes"),
    (["--steps", "0"], "--steps"),
])
def test_bad_options_are_one_line(tiny_recipe: Path, tmp_path: Path, args: list[str], names: str) -> None:
    done = poc("profile", str(tiny_recipe), "--store", str(tmp_path / "s"), *args)
    assert done.returncode == 2
    assert names in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s" / "tiny" / "profiles").exists()


def test_missing_recipe_is_one_line(tmp_path: Path) -> None:
    done = poc("profile", str(tmp_path / "nope.yaml"), "--store", str(tmp_path / "s"))
    assert done.returncode == 2 and "nope.yaml" in done.stderr and "Traceback" not in done.stderr


def test_report_draws_the_profile(tmp_path: Path, tiny_store: Path, tiny_model_dir: Path,
                                  tiny_data: dict[str, Path]) -> None:
    """A real store's runs plus a profile of the same recipe: the report's load estimate has the
    table, both charts and the largest batch within report.memory_limit_mib, in both languages;
    a damaged newer profile is passed over; markup in a method's name stays text."""
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    good = tiny_store.parent / "good.yaml"
    done = poc("profile", str(good), "--store", str(store), "--batch-sizes", "2,4", "--steps", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    (store / "tiny" / "profiles" / "99999999T999999Z-ffffff.json").write_text("{cut sho", encoding="utf-8")
    html = tmp_path / "r.html"
    done = poc("report", "--store", str(store), "--recipe", "tiny", "--output", str(html))
    assert done.returncode == 0, done.stdout + done.stderr
    page = html.read_text(encoding="utf-8")
    assert "Load estimate across batch sizes" in page
    assert "Training throughput by batch size" in page and "Peak memory by batch size" in page
    assert "Largest measured batch within the device" in page
    assert "RandLoRA (very sparse)" in page and "of the dense bases&#39; step time" in page
    assert "No GPU ran the profile" in page
    md = tmp_path / "r.md"
    done = poc("report", "--store", str(store), "--recipe", "tiny", "--format", "md", "--lang", "ja",
               "--output", str(md))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "バッチサイズ別の負荷試算" in md.read_text(encoding="utf-8")


def test_report_names_the_fit_within_the_recipe_limit_and_escapes_names(tmp_path: Path, tiny_model_dir: Path,
                                                                        tiny_data: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "recipe.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora", "lr": 1e-2, "name": XSS_NAME}],
        training={"steps": 4, "batch_size": 8, "max_length": 16}, report={"memory_limit_mib": 100000}))
    store = tmp_path / "store"
    for args in (("run", str(recipe)), ("profile", str(recipe), "--batch-sizes", "2,4", "--steps", "1")):
        done = poc(*args, "--store", str(store))
        assert done.returncode == 0, done.stdout + done.stderr
    html = tmp_path / "r.html"
    assert poc("report", "--store", str(store), "--output", str(html)).returncode == 0
    page = html.read_text(encoding="utf-8")
    assert "within report.memory_limit_mib (100,000 MiB)" in page and "limit 100,000 MiB" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; 4" in page
