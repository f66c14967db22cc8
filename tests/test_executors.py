"""Executors in real processes: `--parallel 2` on this machine, a real local Ray cluster (CPUs only,
and one with two GPUs declared as a resource), GPU pinning by CUDA_VISIBLE_DEVICES, a job or a
Ray worker killed mid-run, and the rerun that completes only what is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from conftest import recipe_dict, write_recipe
from poc_cli.errors import UsageError
from poc_cli.executors.choose import Where, open_executor
from poc_cli.executors.local import LocalExecutor, cpu_slots, gpu_slots
from poc_cli.launcher import run_plan
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.store import Store
from poc_cli.tasks import search_metric

POC = [sys.executable, "-m", "poc_cli"]


def environ() -> dict[str, str]:
    """This process's environment as it is now (the Ray fixture adds the cluster's token)."""
    return {**os.environ, "COLUMNS": "250"}


def poc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POC, *args], capture_output=True, text=True, env=env or environ(), timeout=900)


def stored(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(store.glob("*/*.json"))]


def by_job(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    keyed = {(r["method"], r["seed"]): r for r in records}
    assert len(keyed) == len(records), "a job has two records"
    return keyed


def overlapping(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of jobs whose training windows overlapped in time."""
    spans = [(r, r["timing"]["train_started_unix"], r["timing"]["train_ended_unix"]) for r in records]
    return [(a, b) for i, (a, a0, a1) in enumerate(spans) for (b, b0, b1) in spans[i + 1:] if a0 < b1 and b0 < a1]


@pytest.fixture(scope="module")
def four_jobs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """LoRA and full fine-tuning at two seeds: 4 jobs of about 3 s of training each at one thread,
    long enough for a second Ray worker's cold start (importing torch, starting its fork server)
    to end while the first worker still trains."""
    folder = tmp_path_factory.mktemp("four")
    return write_recipe(folder / "four.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name="four", methods=[{"method": "lora"}, {"method": "full"}], seeds=[0, 1],
        training={"steps": 750, "batch_size": 16, "max_length": 16}))


@pytest.fixture(scope="module")
def parallel_store(tmp_path_factory: pytest.TempPathFactory, four_jobs: Path) -> Path:
    store = tmp_path_factory.mktemp("parallel") / "store"
    result = poc("run", str(four_jobs), "--store", str(store), "--parallel", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "executor: local, 2 job(s) at once" in result.stdout
    return store


@pytest.fixture()
def slow_pair(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> Path:
    """Two jobs that train long enough (about 6 s each at one thread, two at once) to be killed mid-run."""
    return write_recipe(tmp_path / "slow.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name="slow", methods=[{"method": "lora"}, {"method": "full"}],
        training={"steps": 1000, "batch_size": 16, "max_length": 16}))


def test_parallel_2_runs_two_jobs_at_once_with_a_core_each(parallel_store: Path, four_jobs: Path) -> None:
    records = stored(parallel_store)
    assert len(by_job(records)) == 4 and {r["status"] for r in records} == {"ok"}
    assert overlapping(records), "no two jobs trained at the same time"
    assert {r["placement"]["slot"] for r in records} == {"cpu 1/2", "cpu 2/2"}
    assert {r["placement"]["threads"] for r in records} == {1}  # 2 cores shared by 2 jobs
    assert {r["environment"]["hardware"]["torch_threads"] for r in records} == {1}
    for r in records:
        if r["method"] == "lora":  # the driver moved the adapter into the store
            assert Path(r["adapter"]["path"]) == parallel_store / "four" / "adapters" / r["job_id"]
            assert (Path(r["adapter"]["path"]) / "adapter_model.safetensors").is_file()
    assert not (parallel_store / "four" / ".attempts").exists()

    again = poc("run", str(four_jobs), "--store", str(parallel_store), "--parallel", "2")
    assert again.returncode == 0 and again.stdout.count("done before, skipped") == 4


def wait_for_jobs(parent: psutil.Process, count: int, *, settle_s: float) -> list[psutil.Process]:
    """`count` job processes under a running `poc run` (forked by its fork server), once they have
    run for `settle_s` seconds."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        servers = [c for c in parent.children() if "forkserver" in " ".join(c.cmdline())]
        jobs = [job for server in servers for job in server.children()]
        if len(jobs) >= count:
            time.sleep(settle_s)
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"{count} job processes did not appear")


def test_parallel_2_a_killed_job_is_recorded_the_other_completes_and_a_rerun_completes_it(
        tmp_path: Path, slow_pair: Path) -> None:
    store = tmp_path / "store"
    proc = subprocess.Popen([*POC, "run", str(slow_pair), "--store", str(store), "--parallel", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ())
    victim = wait_for_jobs(psutil.Process(proc.pid), 2, settle_s=3)[0]
    victim.kill()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + err
    records = stored(store)
    assert sorted(r["status"] for r in records) == ["failed", "ok"] and len(records) == 2
    failed = next(r for r in records if r["status"] == "failed")
    assert "killed by signal 9" in failed["error"]
    ok_attempt = next(r["attempt"] for r in records if r["status"] == "ok")

    rerun = poc("run", str(slow_pair), "--store", str(store), "--parallel", "2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("done before, skipped") == 1
    after = stored(store)
    assert {r["status"] for r in after} == {"ok"} and len(after) == 2
    assert ok_attempt in {r["attempt"] for r in after}  # the finished job was not run again


def test_gpu_slots_pin_each_job_to_its_own_gpu(tmp_path: Path, tiny_model_dir: Path,
                                               tiny_data: dict[str, Path]) -> None:
    """Without a GPU here: the slots `--gpus 0,1` makes, given to the real executor on a CPU recipe.
    Each job process itself reports the CUDA_VISIBLE_DEVICES it started with, and two jobs that
    trained at once had different GPUs."""
    slots = gpu_slots([0, 1], count=2, visible=None, cores=2)
    assert [(s.name, s.env, s.threads) for s in slots] == [
        ("gpu 0", {"CUDA_VISIBLE_DEVICES": "0"}, 1), ("gpu 1", {"CUDA_VISIBLE_DEVICES": "1"}, 1)]
    store = Store(tmp_path / "store")
    pair = write_recipe(tmp_path / "pair.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name="pair", methods=[{"method": "lora"}, {"method": "full"}],
        training={"steps": 300, "batch_size": 16, "max_length": 16}))
    result = run_plan(make_plan(load_recipe(pair)), store=store, executor=LocalExecutor(slots))
    assert result.ok
    records = stored(store.root)
    assert {r["placement"]["cuda_visible_devices"] for r in records} == {"0", "1"}
    for r in records:
        assert r["placement"]["cuda_visible_devices"] == r["placement"]["slot"].split()[-1]
    pairs = overlapping(records)
    assert pairs and all(a["placement"]["cuda_visible_devices"] != b["placement"]["cuda_visible_devices"]
                         for a, b in pairs)


def test_gpu_indices_follow_the_drivers_own_cuda_visible_devices() -> None:
    """`--gpus 1` inside CUDA_VISIBLE_DEVICES=2,3 is the physical GPU 3."""
    assert [s.env for s in gpu_slots([1], count=2, visible="2,3")] == [{"CUDA_VISIBLE_DEVICES": "3"}]
    assert [s.threads for s in cpu_slots(2, cores=8)] == [4, 4]
    assert [s.threads for s in cpu_slots(1)] == [None]


@pytest.mark.parametrize(("where", "message"), [
    pytest.param(Where(gpus="0"), "--gpus: torch sees no CUDA GPU here; leave --gpus out (or use --parallel on "
                 "the CPU)", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    (Where(gpus="0,x"), "--gpus: '0,x' is not a list of GPU indices such as 0,1,2,3"),
    (Where(parallel=0), "--parallel: 0 is not a number of jobs; use 1 or more"),
    (Where(parallel=64), f"--parallel: 64 jobs at once on {os.cpu_count()} CPU core(s) would give each less than "
                         f"one; use at most {os.cpu_count()}"),
    (Where(parallel=2, gpus="0"), "--parallel and --gpus: use one of them (--gpus runs one job per listed GPU)"),
    (Where(executor="slurm"), "--executor: 'slurm' is not one of local, ray"),
    (Where(artifacts=Path("/tmp")), "--artifacts: only with --executor ray (this run uses --executor local)"),
    (Where(executor="ray", gpus="0"), "--gpus: only with --executor local (this run uses --executor ray)"),
    (Where(executor="ray", cpus_per_job=0), "--cpus-per-job: 0 is not a number of CPUs; use more than 0"),
    (Where(executor="ray", gpus_per_job=-1), "--gpus-per-job: -1 is not a number of GPUs; use 0 or more"),
    (Where(executor="ray", gpus_per_job=0.5), "--gpus-per-job: 0.5: a job runs on one whole GPU or on none (0 or 1); "
                                              "a fraction shares a GPU between jobs and mixes their step times, "
                                              "energy and memory, and a job uses only one"),
    (Where(executor="ray", gpus_per_job=2), "--gpus-per-job: 2: a job runs on one whole GPU or on none (0 or 1); "
                                            "a fraction shares a GPU between jobs and mixes their step times, "
                                            "energy and memory, and a job uses only one"),
])
def test_executor_options_that_cannot_work_name_the_option(four_jobs: Path, where: Where, message: str) -> None:
    """Checked before Ray is imported or connected to."""
    with pytest.raises(UsageError) as caught:
        open_executor(where, load_recipe(four_jobs).training)
    assert str(caught.value) == message and caught.value.exit_code == 2
    assert "ray" not in sys.modules


def test_a_ray_job_is_pinned_to_the_gpu_ray_assigned_or_to_none() -> None:
    from poc_cli.executors.ray_cluster import gpu_pinning

    assert gpu_pinning(["3"], 1) == {"CUDA_VISIBLE_DEVICES": "3"}
    assert gpu_pinning(["GPU-5d1f"], 1) == {"CUDA_VISIBLE_DEVICES": "GPU-5d1f"}
    assert gpu_pinning(["3"], 0) == gpu_pinning([], 0) == {"CUDA_VISIBLE_DEVICES": ""}  # sees no GPU at all
    for assigned in ([], ["0", "1"]):
        with pytest.raises(RuntimeError, match=r"Ray assigned \d GPU\(s\) .* to a job that asked for 1 "):
            gpu_pinning(assigned, 1)
    # a job across GPUs: every GPU of its one task, as its ranks' cuda:0, cuda:1
    assert gpu_pinning(["2", "5"], 2) == {"CUDA_VISIBLE_DEVICES": "2,5"}
    with pytest.raises(RuntimeError, match="asked for 2 "):
        gpu_pinning(["2"], 2)
    assert "ray" not in sys.modules


def test_the_gpus_of_a_recipe_pinned_to_the_cpu_or_a_gpu_are_refused(four_jobs: Path) -> None:
    training = load_recipe(four_jobs).training
    for device in ("cpu", "cuda:1"):
        with pytest.raises(UsageError, match=rf"--gpus: the recipe's training.device is '{device}'"):
            open_executor(Where(gpus="0"), training.model_copy(update={"device": device}))


@pytest.mark.parametrize(("args", "message"), [
    (("--gpus", "1,1"), "error: --gpus: '1,1' must list each GPU index (0 or more) once"),
    (("--executor", "ray", "--parallel", "2"), "error: --parallel: only with --executor local (this run uses "
                                               "--executor ray)"),
])
def test_executor_options_that_cannot_work_are_one_line_and_exit_2(
        tmp_path: Path, four_jobs: Path, args: tuple[str, ...], message: str) -> None:
    result = poc("run", str(four_jobs), "--store", str(tmp_path / "store"), *args)
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [message]


def test_a_missing_extra_names_its_pip_command(tmp_path: Path, four_jobs: Path) -> None:
    """As on a core install: `ray` and `mlflow` cannot be imported."""
    blocked = tmp_path / "blocked"
    for name in ("ray", "mlflow"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text("raise ImportError('not installed (blocked by the test)')\n")
    env = {**environ(), "PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    result = poc("run", str(four_jobs), "--store", str(tmp_path / "store"), "--executor", "ray", env=env)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --executor ray: Ray is not installed: pip install 'poc-cli[ray]'"]
    (tmp_path / "store" / "r").mkdir(parents=True)
    result = poc("export", "mlflow", "--store", str(tmp_path / "store"), env=env)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: poc export mlflow: MLflow is not installed: pip install 'poc-cli[mlflow]'"]


# --- a real local Ray cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[dict[str, Any]]:
    """Starts a local Ray cluster in this test process (`poc run --ray-address` connects to it, with
    the cluster's token in its environment, as on a team's cluster); `restart(num_gpus=...)`
    replaces it by one with GPUs declared as a resource."""
    import logging
    import secrets

    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))  # read as Ray is imported
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")

    cluster: dict[str, Any] = {}

    def start(**resources: Any) -> str:
        ray.shutdown()
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, **resources)
        cluster["address"] = ray.get_runtime_context().gcs_address
        return cluster["address"]

    cluster["restart"] = start
    start()
    yield cluster
    ray.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _ray_job_worker(label: str) -> psutil.Process | None:
    """The Ray worker running the job of method `label` (Ray titles a busy worker with its task's
    name, `ray::poc_job <method>`)."""
    for process in psutil.process_iter(["cmdline"]):
        if " ".join(process.info["cmdline"] or []).startswith(f"ray::poc_job {label}"):
            return process
    return None


def test_a_ray_worker_killed_mid_job_gives_a_failed_record_naming_its_node(
        ray_cluster: dict[str, Any], tmp_path: Path, slow_pair: Path) -> None:
    """The killed job is recorded as failed, the other completes (its adapter sent back to the
    driver), and a rerun, here on the local executor, runs only the missing job."""
    store = tmp_path / "store"
    args = ("run", str(slow_pair), "--store", str(store))
    proc = subprocess.Popen([*POC, *args, "--executor", "ray", "--ray-address", ray_cluster["address"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ())
    deadline = time.monotonic() + 120
    while (_ray_job_worker("lora") is None or _ray_job_worker("full") is None) and time.monotonic() < deadline:
        time.sleep(0.2)
    victim = _ray_job_worker("full")
    assert victim is not None and _ray_job_worker("lora") is not None, "two Ray workers did not start the jobs"
    time.sleep(4)  # both are training
    victim.kill()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + err
    records = {r["method"]: r for r in stored(store)}
    assert records["full"]["status"] == "failed" and records["lora"]["status"] == "ok" and len(records) == 2
    error = records["full"]["error"]
    assert "the Ray worker on node " in error and "was lost mid-job" in error, error
    assert records["full"]["placement"]["node"] in error
    adapter = Path(records["lora"]["adapter"]["path"])  # sent back with the record, committed by the driver
    assert adapter.parent == store / "slow" / "adapters" and (adapter / "adapter_model.safetensors").is_file()

    rerun = poc(*args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("done before, skipped") == 1
    assert {r["status"] for r in stored(store)} == {"ok"}
    assert {r["attempt"] for r in stored(store)} >= {records["lora"]["attempt"]}


def test_a_job_that_fails_on_a_ray_node_brings_its_traceback_back_to_the_store(
        ray_cluster: dict[str, Any], tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    """Weights cut short: the job fails on its node, and the log it wrote there (the traceback) is
    committed beside its record in the driver's store; the run says a rerun would fail the same way."""
    damaged = tmp_path / "damaged-model"
    shutil.copytree(tiny_model_dir, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(damaged, tiny_data, methods=[{"method": "lora"}]))
    store = tmp_path / "store"
    result = poc("run", str(recipe), "--store", str(store), "--executor", "ray", "--ray-address",
                 ray_cluster["address"])
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    [record] = stored(store)
    assert record["status"] == "failed" and record["placement"]["executor"] == "ray", record
    log = Path(record["log_path"])
    assert log.parent == store / "tiny" and log.read_text(encoding="utf-8").count("Traceback") == 1

def test_ray_asks_for_no_more_than_the_cluster_has(ray_cluster: dict[str, Any], tmp_path: Path,
                                                     four_jobs: Path) -> None:
    result = poc("run", str(four_jobs), "--store", str(tmp_path / "store"), "--executor", "ray",
                 "--ray-address", ray_cluster["address"], "--cpus-per-job", "3")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --cpus-per-job: a job asks for 3 CPU(s) and 0 GPU(s), but the cluster has 2 CPU(s) and 0 GPU(s)"]


def test_ray_runs_two_jobs_at_once_each_on_its_own_gpu_with_the_local_executors_metrics(
        ray_cluster: dict[str, Any], tmp_path: Path, four_jobs: Path, parallel_store: Path) -> None:
    """Two GPUs declared as a resource (none is real): by default a job asks for one, Ray assigns
    it, and the job process starts pinned to it. The recipe's device `auto` is resolved on a
    worker, where torch sees no CUDA: the jobs train on its CPU, one thread each, as with
    `--parallel 2`, and give the same numbers."""
    address = ray_cluster["restart"](num_gpus=2)
    artifacts = tmp_path / "shared"
    store = tmp_path / "store"
    result = poc("run", str(four_jobs), "--store", str(store), "--executor", "ray",
                 "--ray-address", address, "--artifacts", str(artifacts))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "executor: ray, 2 job(s) at once" in result.stdout
    records = stored(store)
    keyed, local = by_job(records), by_job(stored(parallel_store))
    assert set(keyed) == set(local) and len(keyed) == 4  # no lost or duplicate record
    for key, record in keyed.items():  # the same seeds, one thread each: the same numbers
        assert record["metrics"]["test"] == local[key]["metrics"]["test"], key
        assert record["loss_curve"] == local[key]["loss_curve"], key
        assert record["placement"]["executor"] == "ray" and record["placement"]["node"]
        assert record["placement"]["threads"] == 1
        assert Path(record["log_path"]).parent == store / "four"  # where a log the job wrote would come back
    for record in records:
        gpu_ids = record["placement"]["gpu_ids"]
        assert len(gpu_ids) == 1 and record["placement"]["cuda_visible_devices"] == gpu_ids[0]
        if record["method"] == "lora":  # on the shared storage, not sent back
            assert Path(record["adapter"]["path"]) == artifacts / "four" / record["job_id"]
            assert (artifacts / "four" / record["job_id"] / "adapter_model.safetensors").is_file()
            assert not (tmp_path / "store" / "four" / "adapters" / record["job_id"]).exists()
    pairs = overlapping(records)
    assert pairs, "no two Ray jobs trained at the same time"
    assert all(a["placement"]["gpu_ids"] != b["placement"]["gpu_ids"] for a, b in pairs)


def test_a_methods_seeded_runs_start_as_soon_as_its_own_trials_end(
        tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    """Stage 2 does not wait for stage 1 as a whole: LoRA's seeded run starts while full
    fine-tuning's trials are still queued, and the choice is the one the stored trials give."""
    recipe = write_recipe(tmp_path / "stages.yaml", recipe_dict(
        tiny_model_dir, tiny_data, name="stages", search={"strategy": "grid"}, seeds=[0],
        methods=[{"method": "lora", "search": {"lr": [1e-3, 1e-2]}}, {"method": "full", "search": {"lr": [1e-4, 1e-3]}}],
        training={"steps": 12, "batch_size": 16, "max_length": 16}))
    plan = make_plan(load_recipe(recipe))
    order: list[tuple[str, str]] = []
    store = Store(tmp_path / "store")
    result = run_plan(plan, store=store, executor=LocalExecutor(cpu_slots(1)),
                      on_outcome=lambda o: order.append((o.job.allocation.label, o.job.stage.value)))
    assert result.ok and len(result.trials) == 4 and len(result.runs) == 2
    assert order == [("lora", "trial"), ("lora", "trial"), ("lora", "run"),
                     ("full", "trial"), ("full", "trial"), ("full", "run")]
    lora_run = next(o for o in result.runs if o.job.allocation.label == "lora")
    scores = {point.lr: store.read("stages", job.id, job.stage)["metrics"]["validation"][search_metric(plan.recipe)]
              for point, job in plan.trials[0]}
    assert lora_run.job.method.learning_rate == max(scores, key=lambda lr: (scores[lr], -lr))  # ties: the smaller lr


def test_ray_runs_a_job_across_two_processes_in_one_task(ray_cluster: dict[str, Any], tmp_path: Path,
                                                          decoders: dict[str, Path]) -> None:
    """A job across processes is one Ray task (one node), its ranks inside it as on one machine: on this CPU
    cluster, two gloo ranks, one record with both."""
    from conftest import instruction_rows, write_jsonl

    ray_cluster["restart"]()
    data = {"train": write_jsonl(tmp_path / "train.jsonl", instruction_rows(16, seed=1)),
            "test": write_jsonl(tmp_path / "test.jsonl", instruction_rows(4, seed=2))}
    recipe = write_recipe(tmp_path / "r.yaml", {
        "name": "across", "model": str(decoders["llama"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {**{k: str(v) for k, v in data.items()}, "choices_column": "choices"},
        "methods": [{"method": "lora", "lr": 2e-2}], "seeds": [0],
        "evaluation": {"max_new_tokens": 2, "forgetting_passages": 0}, "measure": {"serving": False},
        "training": {"steps": 3, "batch_size": 4, "max_length": 64, "gpus_per_job": 2}})
    store = tmp_path / "store"
    result = poc("run", str(recipe), "--store", str(store), "--executor", "ray", "--ray-address",
                 ray_cluster["address"], "--cpus-per-job", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lora = next(r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json")) if r["method"] == "lora")
    assert lora["status"] == "ok" and lora["placement"]["executor"] == "ray"
    assert [r["status"] for r in lora["distributed"]["ranks"]] == ["ok", "ok"]
    assert (store / "across" / "adapters" / lora["job_id"] / "adapter_config.json").is_file()
