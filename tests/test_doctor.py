"""`poc doctor`: environment, available measurements, and recipe checks with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pynvml
import pytest
import torch
import yaml
from typer.testing import CliRunner

from conftest import recipe_dict, write_recipe
from poc_cli.cli import app
from test_trackers import FakeDevice, FakeNvml

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def test_doctor_lists_versions_and_why_gpu_measurements_are_missing() -> None:
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    result = runner.invoke(app, ["doctor"], env=WIDE)
    assert result.exit_code == 0, result.output
    for fragment in ("torch", "transformers", "peft", "nvidia-ml-py", "GPUs seen by NVML"):
        assert fragment in result.output
    assert "GPU memory through NVML" in result.output and "no NVIDIA GPU" in result.output
    assert "torch sees no CUDA device" in result.output


def test_doctor_shows_gpus_nvml_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml([FakeDevice("GPU-aaaa", name="NVIDIA H100 80GB HBM3")]).install(monkeypatch)
    result = runner.invoke(app, ["doctor"], env=WIDE)
    assert result.exit_code == 0
    assert "NVIDIA H100 80GB HBM3 (GPU-aaaa, 81,920 MiB)" in result.output
    assert "550.54.15 (CUDA 12.4)" in result.output
    assert "NVML total-energy counter" in result.output


def test_doctor_recipe_ok(tiny_recipe: Path) -> None:
    result = runner.invoke(app, ["doctor", str(tiny_recipe)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "model loadable" in result.output and "train 96, test 40" in result.output


@pytest.mark.parametrize(("setting", "says"), [
    ({"device": "cuda"}, "training.device: 'cuda'"),
    ({"device": "cuda:1"}, "training.device: 'cuda:1'"),
    ({"quantization": "nf4"}, "training.quantization: nf4 needs an NVIDIA GPU"),
    ({"precision": "fp16-mixed"}, "training.precision: fp16-mixed needs a CUDA GPU"),
])
def test_doctor_recipe_that_cannot_run_here(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict,
                                            setting: dict, says: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    path = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, training={**setting, "max_length": 16}))
    result = runner.invoke(app, ["doctor", str(path)], env=WIDE)
    assert result.exit_code == 2
    assert "the recipe cannot run here" in result.stderr and says in result.stderr
    assert "data readable" in result.output  # the other checks still ran


def test_doctor_invalid_recipe_exits_2(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict) -> None:
    recipe = recipe_dict(tiny_model_dir, tiny_data)
    recipe["methods"] = [{"method": "qlora"}]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = runner.invoke(app, ["doctor", str(path)])
    assert result.exit_code == 2 and "methods.0" in result.stderr


# --- poc doctor --gpu ------------------------------------------------------------------------------


def test_doctor_gpu_says_plainly_that_there_is_no_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["doctor", "--gpu"], env=WIDE)
    assert result.exit_code == 1
    assert result.stderr.startswith("GPU checks: there is no NVIDIA GPU here: torch ")
    assert "sees no CUDA device" in result.stderr and "poc measures time and host memory (RSS)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_machine_checks_flag_an_r535_driver_and_pass_fork_safety(monkeypatch: pytest.MonkeyPatch) -> None:
    from poc_cli import gpu_doctor

    FakeNvml([FakeDevice("GPU-aaaa")]).install(monkeypatch)
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "535.54.03")
    checks = {c.name: c for c in gpu_doctor.machine_checks()}
    assert not checks["NVIDIA driver"].ok and "upgrade to 535.104.05" in checks["NVIDIA driver"].detail
    assert checks["fork safety"].ok and "has not initialised CUDA" in checks["fork safety"].detail


def test_probe_findings_name_what_is_wrong() -> None:
    from poc_cli.gpu_doctor import probe_checks

    good = {"error": None, "uuid": "GPU-aaaa", "name": "NVIDIA H100", "visible": 1, "capability": "9.0",
            "bf16": True, "fp16": True}
    assert all(c.ok for c in probe_checks(good, "aaaa"))
    leaked = probe_checks({**good, "visible": 2}, "GPU-aaaa")[0]  # not pinned: the job saw every GPU
    assert not leaked.ok and "the job saw 2 GPU(s)" in leaked.detail
    t4 = {c.name: c for c in probe_checks({**good, "capability": "7.5", "bf16": False}, "GPU-aaaa")}
    assert not t4["bf16"].ok and "use fp16-mixed or fp32" in t4["bf16"].detail and t4["fp16"].ok
    assert probe_checks({"error": "RuntimeError: CUDA error: no kernel image"}, "x")[0].detail.startswith("Runtime")


def test_job_findings_say_how_memory_and_energy_were_measured(tiny_store: Path) -> None:
    """From a real record, with the GPU sections as a container with a MIG slice fills them."""
    from poc_cli.gpu_doctor import job_checks
    from poc_cli.records.record import read_record
    from poc_cli.trackers.gpu_memory import NO_FIGURE, WHOLE_GPU

    record = next(r for f in sorted((tiny_store / "tiny").glob("*.json"))
                  if (r := json.loads(f.read_text(encoding="utf-8")))["status"] == "ok")
    on_cpu = {c.name: c for c in job_checks(read_record(record))}
    assert on_cpu["a tiny training job"].ok and "ok at fp32 on cpu" in on_cpu["a tiny training job"].detail
    assert not on_cpu["GPU memory per job"].ok and "no NVIDIA GPU" in on_cpu["GPU memory per job"].detail
    record["gpu"] = {**record["gpu"], "peak_job_mib": 2100.0, "peak_job_why": NO_FIGURE, "reason": None}
    record["energy"] = {"energy_j": 812.5, "method": "NVML total-energy counter", "scope": WHOLE_GPU}
    record["memory"] = {**record["memory"], "torch_peak_reserved_mib": 1800.0}
    found = {c.name: c for c in job_checks(read_record(record))}
    assert found["GPU memory per job"].ok and f"because {NO_FIGURE}" in found["GPU memory per job"].detail
    assert found["energy"].detail == f"812.5 J from the NVML total-energy counter, {WHOLE_GPU}"
    assert found["torch's own peak"].detail == "1,800 MiB reserved"
