"""One job across several processes (issue 44): FSDP2 over gloo on this CPU, through a real `poc run`, against the
same jobs in one process; a rank that dies; the placement of jobs across GPUs; the plan's GPUs per job for an 8B
Llama's architecture. On a GPU machine the NCCL and per-rank NVML checks run (marked `gpu`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch
import yaml

from conftest import build_decoder, instruction_rows, write_jsonl, write_recipe
from poc_cli.distributed import EXIT_HOOK
from poc_cli.errors import RecipeError
from poc_cli.executors.local import SlotPool, gpu_slots, joined
from poc_cli.hardware import Facts
from poc_cli.plan import make_plan
from poc_cli.recipe import Recipe

FIXTURES = Path(__file__).parent / "fixtures"
METHODS = [{"method": "lora", "lr": 2e-2}, {"method": "randlora", "lr": 2e-2, "alpha_ratio": 2},
           {"method": "full", "lr": 3e-3}]
# fp32 on both sides: the gradient each rank reduces is the same sum in another order, so the losses agree to
# float rounding (measured: within 1.2e-7 relative over six steps); a loose bound that a wrong share would break.
LOSS_TOLERANCE = 1e-5


def poc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("across")
    return {"model": build_decoder("llama", folder / "llama", chat=True),
            "train": write_jsonl(folder / "train.jsonl", instruction_rows(30, seed=1)),
            "test": write_jsonl(folder / "test.jsonl", instruction_rows(8, seed=2))}


def recipe(path: Path, llama: dict[str, Path], gpus: int | str, methods: list[dict[str, Any]] = METHODS,
           **training: Any) -> Path:
    # batch 7 over 30 examples: the epoch's last batch (2) leaves each rank one example; steps 6 cross the epoch
    return write_recipe(path, {
        "name": f"across-{gpus}", "model": str(llama["model"]), "task": "causal-lm", "budget": {"lora_rank": 2},
        "data": {"train": str(llama["train"]), "test": str(llama["test"]), "choices_column": "choices"},
        "methods": methods, "seeds": [0], "evaluation": {"max_new_tokens": 4, "forgetting_passages": 0},
        "training": {"steps": 6, "batch_size": 7, "max_length": 64, "gpus_per_job": gpus, **training}})


def records(store: Path) -> dict[str, dict[str, Any]]:
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in store.glob("*/*.json"))}


@pytest.fixture(scope="module")
def two_runs(llama: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The three methods as jobs of one process and of two (about 30 s in all: six real jobs)."""
    folder = tmp_path_factory.mktemp("runs")
    stores = {}
    for gpus in (1, 2):
        stores[gpus] = folder / f"store{gpus}"
        proc = poc("run", str(recipe(folder / f"r{gpus}.yaml", llama, gpus)), "--store", str(stores[gpus]))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return stores


def test_two_process_jobs_train_as_the_one_process_jobs_do(two_runs: dict[int, Path], llama: dict[str, Path],
                                                           tmp_path: Path) -> None:
    one, two = records(two_runs[1]), records(two_runs[2])
    planned = json.loads(poc("plan", str(recipe(tmp_path / "r.yaml", llama, 2)), "--json", "--no-estimate").stdout)
    for method in ("lora", "randlora", "full"):
        a, b = one[method], two[method]
        assert b["status"] == "ok", b["error"]
        assert len(b["loss_curve"]) == 6
        for x, y in zip(a["loss_curve"], b["loss_curve"]):
            assert abs(x - y) <= LOSS_TOLERANCE * abs(x), (method, a["loss_curve"], b["loss_curve"])
        counted = next(m for m in planned["methods"] if m["name"] == method)
        assert counted["gpus_per_job"] == 2
        assert b["parameters"]["trainable_counted"] == counted["trainable_parameters"] == a["parameters"]["trainable_counted"]
        assert b["job"]["gpus"] == 2 and "gpus" not in a["job"] and a["job_id"] != b["job_id"]
        assert b["adapter"]["bytes"] == a["adapter"]["bytes"]  # gathered onto rank 0: the whole adapter
        ranks = b["distributed"]["ranks"]
        assert [r["rank"] for r in ranks] == [0, 1] and {r["status"] for r in ranks} == {"ok"}
        assert len({r["pid"] for r in ranks}) == 2 and b["distributed"]["backend"] == "gloo"
        assert b["distributed"]["blocks_sharded"] == 2 and b["distributed"]["failed_rank"] is None
        assert b["memory"]["host_peak_rss_mib"] == pytest.approx(sum(r["host_peak_rss_mib"] for r in ranks))
        assert b["metrics"]["test"]["n"] == 8 and not a["distributed"]
        assert any("serving was not measured" in w for w in b["warnings"]) and a["serving"]


def test_compare_and_report_show_the_jobs_processes(two_runs: dict[int, Path], tmp_path: Path) -> None:
    rows = json.loads(poc("compare", "--store", str(two_runs[2]), "--json").stdout)
    assert {r["method"] for r in rows} >= {"lora", "randlora", "full"}
    out = tmp_path / "report.md"
    assert poc("report", "--store", str(two_runs[2]), "--format", "md", "--output", str(out)).returncode == 0
    body = out.read_text()
    header = next(line for line in body.splitlines() if line.startswith("| Method | Trainable"))
    assert "Processes per job" in header
    table = body[body.index(header):].splitlines()
    full = next(line for line in table if line.startswith("| Full fine-tuning |"))
    assert full.split("|")[header.split("|").index(" Processes per job ")].strip() == "2"


def test_a_job_across_gpus_costs_its_gpus_times_its_time(two_runs: dict[int, Path]) -> None:
    from poc_cli.cost import record_price
    from poc_cli.records.record import StoredRecord

    raw = records(two_runs[2])["full"]
    on_cpu = StoredRecord.model_validate(raw)
    assert record_price(on_cpu, None).per_hour == 0.10  # processes on one CPU machine: the machine's price
    raw["runtime"]["device"] = "cuda:0"
    raw["gpu"]["device"] = {"name": "NVIDIA H100 80GB HBM3"}
    price = record_price(StoredRecord.model_validate(raw), None)
    assert price.per_hour == pytest.approx(2 * 2.90) and "x 2 GPUs" in price.source


def _leftovers() -> list[int]:
    """Processes of this machine started with the exit hook in their environment (none may outlive the run)."""
    found = []
    for process in psutil.process_iter():
        try:
            if EXIT_HOOK in process.environ():
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def test_a_rank_that_dies_fails_the_job_naming_it_and_leaves_no_process(llama: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    path, store = recipe(tmp_path / "r.yaml", llama, 2, methods=METHODS[:1]), tmp_path / "store"
    proc = poc("run", str(path), "--store", str(store), env={EXIT_HOOK: "1:2"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = records(store)["lora"]
    assert failed["status"] == "failed" and failed["distributed"]["failed_rank"] == 1
    assert failed["error"].startswith("rank 1 of 2: job process exited with code 3 before writing its record")
    assert [r["exit_code"] for r in failed["distributed"]["ranks"]] == [1, 3]  # rank 0 failed waiting on rank 1
    assert "a rank of the job across GPUs failed" in proc.stderr
    time.sleep(1)
    assert _leftovers() == []
    again = poc("run", str(path), "--store", str(store))  # the rerun resumes the store: the job runs again
    assert again.returncode == 0, again.stdout + again.stderr
    assert records(store)["lora"]["status"] == "ok"


def test_a_job_across_gpus_takes_whole_gpus_and_small_jobs_run_beside_it() -> None:
    """A faked 4-GPU machine (`--gpus 0,1,2,3`): a 2-GPU job gets two GPUs as one slot, two 1-GPU jobs the
    other two, and a third 1-GPU job waits for a GPU; a 2-GPU job waiting is not passed by a 1-GPU job."""
    pool = SlotPool(gpu_slots([0, 1, 2, 3], count=4, visible=None, cores=16))
    assert pool.gpus == 4
    big = pool.take(2)
    assert joined(big).env == {"CUDA_VISIBLE_DEVICES": "0,1"} and joined(big).name == "gpu 0,1"
    assert joined(big).threads == 8
    small = [pool.take(1), pool.take(1)]
    assert [s[0].env["CUDA_VISIBLE_DEVICES"] for s in small] == ["2", "3"]
    order: list[str] = []

    def wait(name: str, count: int) -> None:
        slots = pool.take(count)
        order.append(f"{name}:{','.join(s.env['CUDA_VISIBLE_DEVICES'] for s in slots)}")

    waiting_big = threading.Thread(target=wait, args=("big", 2))
    waiting_big.start()
    time.sleep(0.2)
    waiting_small = threading.Thread(target=wait, args=("small", 1))
    waiting_small.start()
    time.sleep(0.2)
    pool.give_back(small[0])  # one GPU free: the 2-GPU job is first in line, so nothing starts
    time.sleep(0.2)
    assert order == []
    pool.give_back(small[1])
    waiting_big.join(2)
    assert order == ["big:2,3"]
    pool.give_back(big)
    waiting_small.join(2)
    assert order == ["big:2,3", "small:0"]


@pytest.fixture(scope="module")
def llama_8b(tmp_path_factory: pytest.TempPathFactory, llama: dict[str, Path]) -> Path:
    """Llama-3.1-8B's architecture, config only (no weights: the plan builds it on the meta device), with the tiny
    model's tokenizer for reading the data."""
    folder = tmp_path_factory.mktemp("llama-3.1-8b")
    shutil.copy(FIXTURES / "llama-3.1-8b" / "config.json", folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(llama["model"] / name, folder)
    return folder


def test_the_plan_sizes_full_fine_tuning_of_an_8b_llama_at_two_80_gb_gpus(llama_8b: Path, llama: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    path = recipe(tmp_path / "r.yaml", {**llama, "model": llama_8b}, "auto", precision="bf16-mixed",
                  gradient_checkpointing=True)
    plan = json.loads(poc("plan", str(path), "--json", "--no-estimate", "--gpu-memory", "80", "--node-gpus",
                          "8").stdout)
    sizing = {m["name"]: m["sizing"] for m in plan["methods"]}
    assert {name: s["gpus"] for name, s in sizing.items()} == {"lora": 1, "randlora": 1, "full": 2}
    assert all(s["how"] == "arithmetic" for s in sizing.values())
    assert plan["full_model_parameters"] == 8_030_261_248
    assert sizing["full"]["per_gpu_bytes"] == pytest.approx(8_030_261_248 * 16 / 2)  # fp32 weight, grad, 2 moments
    text = poc("plan", str(path), "--no-estimate", "--gpu-memory", "80")
    assert "GPUs per job: sized for 80 GiB GPUs" in text.stdout
    with pytest.raises(RecipeError, match="^training.gpus_per_job: full needs 2 GPUs per job; the machine the jobs "
                                          "run on has 1$"):
        make_plan(Recipe.model_validate(yaml.safe_load(path.read_text())), facts=_facts(1, 80))


def _facts(gpus: int = 8, memory_gib: float | None = 80) -> Any:
    return lambda training: Facts((), training.precision if training.precision != "auto" else "fp32", gpus,
                                  None if memory_gib is None else memory_gib * 1024)


@pytest.mark.parametrize("change, field, message", [
    ({"search": {"strategy": "halving"}, "methods": [{"method": "lora", "search": {"lr": [1e-3, 1e-2]}}]},
     "training.gpus_per_job", "a halving search resumes its trials"),
    ({"training": {"steps": 6, "precision": "fp16-mixed", "gpus_per_job": 2}}, "training.gpus_per_job",
     "fp16-mixed's gradient scaler"),
    ({"methods": [{"method": "lora", "gpus_per_job": 16}]}, "methods.0.gpus_per_job", "needs 16 GPUs per job"),
])
def test_what_cannot_run_across_gpus_is_refused_naming_the_field(llama: dict[str, Path], tmp_path: Path,
                                                                 change: dict, field: str, message: str) -> None:
    base = yaml.safe_load(recipe(tmp_path / "r.yaml", llama, 2).read_text())
    base.update(change)
    with pytest.raises(RecipeError, match=rf"^{field}: .*{message}"):
        make_plan(Recipe.model_validate(base), facts=_facts())


def test_auto_on_a_cpu_is_one_process_and_a_method_may_ask_for_its_own(llama: dict[str, Path], tmp_path: Path) -> None:
    methods = [{"method": "lora"}, {"method": "full", "gpus_per_job": 2}]
    plan = make_plan(Recipe.model_validate(yaml.safe_load(
        recipe(tmp_path / "r.yaml", llama, "auto", methods=methods).read_text())), facts=_facts(0, None))
    assert [(s.label, s.gpus, s.how) for s in plan.sizing] == [("lora", 1, "no GPU"), ("full", 2, "recipe")]
    assert [job.gpus for job in plan.run_jobs({})] == [1, 1, 2]  # the untuned reference, lora, full


gpu = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two NVIDIA GPUs; torch sees "
                         f"{torch.cuda.device_count()} here")


@pytest.mark.gpu
@gpu
def test_on_two_gpus_the_ranks_join_over_nccl_and_nvml_measures_each(llama: dict[str, Path], tmp_path: Path) -> None:
    path = recipe(tmp_path / "r.yaml", llama, 2, methods=METHODS[2:], device="cuda", precision="bf16-mixed")
    proc = poc("run", str(path), "--store", str(tmp_path / "store"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full = records(tmp_path / "store")["full"]
    section = full["distributed"]
    assert section["backend"] == "nccl" and [r["device"] for r in section["ranks"]] == ["cuda:0", "cuda:1"]
    assert len({r["gpu_uuid"] for r in section["ranks"]}) == 2 and all(r["gpu_peak_mib"] for r in section["ranks"])
    assert section["gpu_peak_mib_sum"] == pytest.approx(sum(r["gpu_peak_mib"] for r in section["ranks"]))
    assert full["gpu"]["peak_job_mib"] == section["gpu_peak_mib_max"]
