"""`poc doctor`: environment, available measurements, and recipe checks with exit codes."""

from __future__ import annotations

from pathlib import Path

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
    recipe["methods"] = [{"method": "dora"}]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = runner.invoke(app, ["doctor", str(path)])
    assert result.exit_code == 2 and "methods.0" in result.stderr
