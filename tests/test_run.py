"""`poc run` in real processes: records, resume, a killed job, Ctrl-C, a timeout, a failing job."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch
from safetensors import safe_open

from conftest import recipe_dict, write_recipe
from poc_cli.plan import identity, job_id
from poc_cli.records.record import SCHEMA_VERSION

POC = [sys.executable, "-m", "poc_cli"]
ENV = {**os.environ, "COLUMNS": "250"}  # Rich wraps at 80 columns when writing to a pipe


def poc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POC, *args], capture_output=True, text=True, cwd=cwd, timeout=600, env=ENV)


def records(store: Path) -> dict[str, dict[str, Any]]:
    """Stored records by method name."""
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}


def test_run_stores_complete_records_then_resume_skips(
    tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]
) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data))
    store = tmp_path / "store"
    first = poc("run", str(recipe), "--store", str(store))
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"poc compare --store {store} --recipe tiny" in first.stdout  # what to type next, ready to paste
    assert f"poc report --store {store} --recipe tiny --format html --lang ja" in first.stdout
    stored = records(store)
    assert set(stored) == {"lora", "randlora", "full"}
    plan = json.loads(poc("plan", str(recipe), "--json", "--no-estimate").stdout)
    planned = {m["name"]: m for m in plan["methods"]}
    for method, rec in stored.items():
        assert rec["status"] == "ok" and rec["error"] is None and rec["schema_version"] == SCHEMA_VERSION
        assert rec["task"]["name"] == "text-classification" and rec["task"]["metrics"][0]["name"] == "accuracy"
        assert rec["seed"] == 0 and rec["job"]["seed"] == 0 and rec["job"]["recipe"]["name"] == "tiny"
        params = rec["parameters"]
        assert params["trainable_counted"] == planned[method]["trainable_parameters"]
        assert params["trainable_effective"] == params["trainable_counted"]
        assert rec["job"]["allocation"]["budget"] == plan["budget_parameters"]
        assert job_id(rec["job"]) == rec["job_id"]  # the record holds everything its id was made from
        assert set(params) == {"trainable_counted", "trainable_effective", "without_gradient"}  # one copy of the plan
        test = rec["metrics"]["test"]
        assert test["n"] == 40 and 0 <= test["accuracy"] <= 1 and "confusion_matrix" in test
        assert set(test["per_class"]) == {"negative", "positive"}
        assert len(rec["predictions"]["test"]["y_pred"]) == 40
        assert len(rec["loss_curve"]) == rec["throughput"]["steps"] == 2 * 6  # 96 examples / 16, 2 epochs
        assert rec["throughput"]["examples_per_s"] > 0 and rec["throughput"]["tokens_per_s"] > 0
        assert {"load_s", "train_s", "evaluate_s", "total_s"} <= set(rec["timing"])
        assert rec["load"]["seconds"] > 0 and rec["load"]["other_cpu_s"] >= 0 and "loaded" in rec["load"]
        assert rec["model"]["files"] >= 3 and len(rec["model"]["sha256"]) == 64  # the weights it started from
        assert rec["data"]["class_counts"]["train"] == {"negative": 48, "positive": 48}
        memory = rec["memory"]
        assert memory["host_peak_rss_mib"] > 100  # torch alone is more than that
        assert memory["host_tree_peak_rss_mib"] > 100 and memory["host_sampling"]["samples"] > 0
        assert rec["timing"]["cpu_s"] > 0 and rec["timing"]["train_ended_unix"] > rec["timing"]["train_started_unix"]
        if not torch.cuda.is_available():  # CPU only: GPU figures are absent with a reason, never zeros
            assert rec["gpu"]["peak_job_mib"] is None and rec["gpu"]["reason"]
            assert memory["torch_peak_reserved_mib"] is None
            assert rec["energy"]["energy_j"] is None and rec["energy"]["reason"]
        sha = hashlib.sha256(tiny_data["train"].read_bytes()).hexdigest()
        assert rec["data"]["sources"][0]["sha256"] == sha
        assert rec["environment"]["packages"]["peft"]
        assert rec["adapter"]["bytes"] > 0
    # RandLoRA's adapter holds lambda and gamma only: the random bases are not written.
    adapter = Path(stored["randlora"]["adapter"]["path"]) / "adapter_model.safetensors"
    with safe_open(str(adapter), "pt") as fh:
        keys = list(fh.keys())
    assert keys and not any("randlora_A" in k or "randlora_B" in k for k in keys)
    assert stored["full"]["adapter"]["path"] is None  # measured, not kept

    attempts = {m: r["attempt"] for m, r in stored.items()}
    second = poc("run", str(recipe), "--store", str(store))
    assert second.returncode == 0
    assert second.stdout.count("done before, skipped") == 3
    assert {m: r["attempt"] for m, r in records(store).items()} == attempts


def wait_for_child(parent: subprocess.Popen, *, settle_s: float) -> psutil.Process:
    """The job process of a running `poc run`, once it has run for `settle_s` seconds."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # Jobs are forked by the fork server `poc run` started (see poc_cli.processes).
        servers = [c for c in psutil.Process(parent.pid).children() if "forkserver" in " ".join(c.cmdline())]
        children = [job for server in servers for job in server.children()]
        if children:
            time.sleep(settle_s)
            return children[0]
        time.sleep(0.1)
    raise AssertionError("no job process appeared")


@pytest.fixture()
def slow_recipe(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """Two jobs; the first trains long enough to be stopped mid-run (1,000 steps: 4 s of training
    on an idle 2-core machine, more under load, after about 1 s of loading, against the 1 to
    2.5 s the tests let it run)."""
    return write_recipe(tmp_path / "slow.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora"}, {"method": "full"}],
        training={"steps": 1000, "batch_size": 16, "max_length": 16},
    ))


def test_killed_job_is_recorded_others_go_on_and_rerun_completes(tmp_path: Path, slow_recipe: Path) -> None:
    store = tmp_path / "store"
    proc = subprocess.Popen([*POC, "run", str(slow_recipe), "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for_child(proc, settle_s=2.5).kill()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + err
    stored = records(store)
    assert stored["lora"]["status"] == "failed"
    assert "killed by signal 9" in stored["lora"]["error"]
    assert stored["full"]["status"] == "ok"  # the failure did not stop the next job

    rerun = poc("run", str(slow_recipe), "--store", str(store))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    stored = records(store)
    assert stored["lora"]["status"] == "ok" and stored["full"]["status"] == "ok"
    assert rerun.stdout.count("done before, skipped") == 1


def test_ctrl_c_marks_the_running_job_interrupted(tmp_path: Path, slow_recipe: Path) -> None:
    store = tmp_path / "store"
    # As from a terminal: a shell's background job (a test run started with `&`) inherits SIGINT ignored.
    proc = subprocess.Popen([*POC, "run", str(slow_recipe), "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child = wait_for_child(proc, settle_s=2.5)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    stored = records(store)
    assert set(stored) == {"lora"}  # the run stopped: the second job never started
    assert stored["lora"]["status"] == "interrupted"


def test_timeout_is_recorded(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora"}],
        training={"steps": 100000, "timeout_minutes": 0.1, "max_length": 16},
    ))
    result = poc("run", str(recipe), "--store", str(tmp_path / "store"))
    assert result.returncode == 1
    rec = records(tmp_path / "store")["lora"]
    assert rec["status"] == "timeout" and "timed out after 0.1 min" in rec["error"]
    assert "raise training.timeout_minutes or shorten the training; as it is, a rerun would time out" in result.stderr


def test_failure_inside_the_job_is_recorded_with_its_error(
    tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]
) -> None:
    """Weights cut short: the plan reads only the config, so the job is what finds it; the record says
    why, the log has the traceback, and the run says a rerun would fail the same way."""
    damaged = tmp_path / "damaged-model"
    shutil.copytree(tiny_model_dir, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(damaged, tiny_data, methods=[{"method": "lora"}]))
    result = poc("run", str(recipe), "--store", str(tmp_path / "store"))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    rec = records(tmp_path / "store")["lora"]
    assert rec["status"] == "failed" and rec["error"].split(":")[0].endswith("Error"), rec["error"]
    assert Path(rec["log_path"]).read_text().count("Traceback") == 1  # the detail is in the job's log
    assert "1 of 1 seeded run(s) did not finish (lora seed 0): a rerun would fail the same way" in result.stderr
    assert "run the same command again" not in result.stderr


def test_a_second_run_of_the_same_recipe_stops_and_names_the_first(tmp_path: Path, slow_recipe: Path) -> None:
    """Two terminals, one store: the second run must not touch the first one's records."""
    store = tmp_path / "store"
    first = subprocess.Popen([*POC, "run", str(slow_recipe), "--store", str(store)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for_child(first, settle_s=1)
    second = poc("run", str(slow_recipe), "--store", str(store))
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert f"in use by PID {first.pid}" in second.stderr and "--wait" in second.stderr
    waited = subprocess.Popen([*POC, "run", str(slow_recipe), "--store", str(store), "--wait"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    w_out, w_err = waited.communicate(timeout=600)
    assert waited.returncode == 0 and f"waiting: the store is in use by PID {first.pid}" in w_err
    assert w_out.count("done before, skipped") == 2  # it ran after the first, and found everything done
    stored = records(store)
    assert {r["status"] for r in stored.values()} == {"ok"}


def test_the_job_dies_with_its_parent(tmp_path: Path, slow_recipe: Path) -> None:
    """kill -9 of `poc run` takes its job process with it (no unsupervised training), and the
    store is free for a rerun at once."""
    store = tmp_path / "store"
    parent = subprocess.Popen([*POC, "run", str(slow_recipe), "--store", str(store)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    child = wait_for_child(parent, settle_s=2)
    server = psutil.Process(child.ppid())  # the fork server poc run started
    parent.kill()
    parent.communicate(timeout=60)  # its stdout closes once neither server nor job holds it
    child.wait(timeout=10)  # psutil.TimeoutExpired if the job outlived its parent
    server.wait(timeout=10)  # and the fork server with it
    rerun = poc("run", str(slow_recipe), "--store", str(store))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {r["status"] for r in records(store).values()} == {"ok"}


def test_bf16_mixed_with_memory_savers_runs_every_method(tmp_path: Path, tiny_model_dir: Path,
                                                         tiny_data: dict[str, Path]) -> None:
    """The issue's "done when": all three methods at bf16-mixed on CPU, here with accumulation and
    checkpointing on as well, recorded as such."""
    training = {"epochs": 2, "batch_size": 16, "max_length": 16, "precision": "bf16-mixed",
                "gradient_accumulation_steps": 2, "gradient_checkpointing": True}
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, training=training))
    store = tmp_path / "store"
    proc = poc("run", str(recipe), "--store", str(store))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = records(store)
    assert set(stored) == {"lora", "randlora", "full"}
    for rec in stored.values():
        assert rec["status"] == "ok", rec["error"]
        assert identity(rec["job"])["training"]["precision"] == "bf16-mixed"  # in the job's identity
        assert rec["job"]["recipe"]["training"]["gradient_checkpointing"] is True
        assert rec["throughput"]["effective_batch_size"] == 32
        assert rec["throughput"]["steps"] == len(rec["loss_curve"]) == 2 * 3  # 6 batches, 2 per step
        assert all(math.isfinite(v) for v in rec["loss_curve"])
        assert rec["parameters"]["trainable_effective"] == rec["parameters"]["trainable_counted"]
    report = tmp_path / "report.html"
    made = poc("report", "--store", str(store), "--format", "html", "--output", str(report))
    assert made.returncode == 0, made.stderr
    html = report.read_text(encoding="utf-8")
    assert ("Precision bf16-mixed; gradient checkpointing on; 2 batches accumulated per optimizer step "
            "(effective batch 32); base weights not quantized.") in html
