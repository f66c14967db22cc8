"""`poc doctor`: what this machine can measure, and whether a recipe can run here.

Run before a long PoC on an unfamiliar machine: a missing driver or an unreadable file
should cost seconds, not the first job's hour.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from poc_cli.environment import package_versions
from poc_cli.errors import PocError
from poc_cli.hardware import problems
from poc_cli.methods import get_method
from poc_cli.modelhub import load_config, resolve_model
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.tasks import task_for
from poc_cli.trackers import nvml


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str


def _energy_support(info: nvml.NvmlInfo) -> tuple[bool, str]:
    """Whether each device has the total-energy counter (Volta and newer)."""
    if not info.available:
        return False, info.reason or "NVML unavailable"
    if nvml.init() is not None:
        return False, "NVML unavailable"
    unsupported = []
    try:
        for i, device in enumerate(info.devices):
            try:
                nvml.pynvml.nvmlDeviceGetTotalEnergyConsumption(nvml.pynvml.nvmlDeviceGetHandleByIndex(i))
            except Exception:  # noqa: BLE001 - unsupported or failing: power is integrated instead
                unsupported.append(device.name)
    finally:
        nvml.shutdown()
    if unsupported:
        return False, "energy counter unsupported on " + ", ".join(unsupported) + ": sampled power is integrated"
    return True, "NVML total-energy counter"


def environment_checks() -> tuple[list[tuple[str, str]], list[Check]]:
    """(versions and devices as rows, available measurements as checks)."""
    versions = package_versions()
    info = nvml.machine_info()
    cuda = torch.cuda.is_available()
    rows = [
        ("python", platform.python_version()),
        ("torch", f"{torch.__version__} (CUDA build {torch.version.cuda or 'none'})"),
        ("transformers", versions.get("transformers") or "missing"),
        ("peft", versions.get("peft") or "missing"),
        ("nvidia-ml-py", versions.get("nvidia-ml-py") or "missing"),
        ("NVML driver", f"{info.driver_version} (CUDA {info.cuda_driver_version})" if info.available
         else f"unavailable: {info.reason}"),
        ("GPUs seen by torch", ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
         if cuda else "none"),
        ("GPUs seen by NVML", ", ".join(f"{d.name} ({d.uuid}, {d.total_mib:,.0f} MiB)" for d in info.devices)
         or "none"),
    ]
    energy_ok, energy_detail = _energy_support(info)
    checks = [
        Check("wall time, CPU time, throughput", True, "always"),
        Check("host peak memory (RSS of the job and its children)", True, "always"),
        Check("GPU memory through NVML (per process and device)", info.available,
              "available" if info.available else info.reason or "unavailable"),
        Check("GPU memory from torch (peak allocated and reserved)", cuda,
              "available" if cuda else "torch sees no CUDA device"),
        Check("GPU energy and power", energy_ok, energy_detail),
    ]
    return rows, checks


def recipe_checks(path: Path) -> list[Check]:
    """Can this recipe run here? Raises RecipeError for an invalid recipe."""
    recipe = load_recipe(path)
    training = recipe.training
    checks = []
    found = problems(training)
    if found:  # `plan` stops at these; the doctor reports them beside everything else
        neutral = {"device": "auto", "precision": "auto", "quantization": "none"}
        recipe = recipe.model_copy(update={"training": recipe.training.model_copy(update=neutral)})
    plan = make_plan(recipe)  # data readable, model config loadable, budgets fit
    checks.append(Check("data readable", True, plan.sizes_text()))
    checks.append(Check("budget fits every method", True, f"{plan.budget:,} adapter parameters"))
    task = task_for(recipe)
    try:
        source = resolve_model(recipe.model)
        config = load_config(task, source, plan.splits.labels, field_value=recipe.model)
        task.processor(source, config)
        task.load_model(source, config)
        checks.append(Check("model loadable", True, recipe.model))
    except (PocError, OSError, ValueError) as exc:
        checks.append(Check("model loadable", False, str(exc).splitlines()[0]))
    for spec in recipe.methods:
        problem = getattr(get_method(spec.method), "unsupported", lambda: None)()
        checks.append(Check(f"method {spec.label}", problem is None, problem or "supported"))
    checks.append(Check("training device, precision and quantization", not found, "; ".join(found) or
                        f"{training.device}, {training.precision}, quantization {training.quantization}: "
                        + ("CUDA" if torch.cuda.is_available() and training.device != "cpu" else "CPU")))
    return checks
