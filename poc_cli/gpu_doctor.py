"""`poc doctor --gpu`: what poc will measure on each GPU of this machine, found by running there.

A user's machine is bare metal, a container, a MIG slice or a node with eight GPUs, and each
changes what NVML can read: per-process memory or only the device's, an energy counter or
none, which precisions the GPU computes in, whether bitsandbytes' kernels load. Nothing of that
can be read off a spec sheet, so the doctor runs, on each visible GPU, what `poc run` runs: a
probe forked from poc's own job server (fork safety, the GPU's UUID as the pinned job sees it,
a bf16 and an fp16 product), bitsandbytes' layers in a process of their own, and a tiny real
training job through the same isolation and trackers as every job, pinned as `--gpus` pins it.
Each finding is a check that passed, or the reason it did not.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from poc_cli.doctor import Check
from poc_cli.records.record import StoredRecord, read_record
from poc_cli.records.sections import Runtime
from poc_cli.environment import package_versions
from poc_cli.trackers import nvml

# NVML's process list changed its struct without a version bump in these R535 releases: per-process
# memory reads wrong or not at all there (fixed in 535.104.05).
BROKEN_PROCESS_LIST = ("535.43", "535.54", "535.86", "535.98")
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]


def no_gpu_reason() -> str | None:
    """A plain sentence where this machine has no GPU poc can use (None: it has one)."""
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return None
    info = nvml.machine_info()
    build = torch.version.cuda or "none"
    return (f"there is no NVIDIA GPU here: torch {torch.__version__} (CUDA build {build}) sees no CUDA device, and "
            f"NVML says: {info.reason or 'no device'}. On this machine poc measures time and host memory (RSS); "
            "GPU memory, energy, bf16/fp16 on a GPU and 4-/8-bit bases need an NVIDIA GPU")


def machine_checks() -> list[Check]:
    """The driver, nvidia-ml-py and the job server's fork safety."""
    from poc_cli.processes import probe_server

    info = nvml.machine_info()
    driver = info.driver_version or "unknown"
    broken = any(driver.startswith(v) for v in BROKEN_PROCESS_LIST)
    checks = [
        Check("NVIDIA driver", info.available and not broken,
              f"{driver} (CUDA {info.cuda_driver_version})" + (
                  ": its NVML process list is misread by every nvidia-ml-py (per-process memory falls back to the "
                  "device's); upgrade to 535.104.05 or newer" if broken else "") if info.available
              else info.reason or "NVML unavailable"),
        Check("nvidia-ml-py", True, package_versions().get("nvidia-ml-py") or "missing"),
    ]
    state = probe_server()
    safe = not state["cuda_initialized_in_server"] and not state["bitsandbytes_in_server"] and not state["bad_fork"]
    checks.append(Check(
        "fork safety", safe and state["nvml_based_cuda_check"],
        ("the job server has not initialised CUDA" if safe else "the job server initialised CUDA: jobs forked from it "
         "cannot use the GPU") + ("; torch asks NVML whether a GPU is there" if state["nvml_based_cuda_check"]
                                  else "; PYTORCH_NVML_BASED_CUDA_CHECK is not set in jobs")
        + ("; peft preloaded" if state["peft_preloaded"] else "; peft imported by each job (bitsandbytes is installed)")))
    return checks


def _probe_gpu(env: dict[str, str]) -> dict[str, Any]:
    """In a job forked from the server, pinned by `env`: the GPU as the job sees it, and a product in
    bf16 and in fp16 on it."""
    os.environ.update(env)
    found: dict[str, Any] = {"error": None}
    try:
        properties = torch.cuda.get_device_properties(0)
        found.update(uuid=str(properties.uuid), name=properties.name, visible=torch.cuda.device_count(),
                     capability=f"{properties.major}.{properties.minor}")
        for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
            try:
                x = torch.randn(256, 256, device="cuda", dtype=dtype)
                found[name] = bool(torch.isfinite(x @ x).all()) and (dtype != torch.bfloat16
                                                                    or torch.cuda.is_bf16_supported())
            except RuntimeError as exc:
                found[name] = str(exc).splitlines()[0][:200]
    except Exception as exc:  # noqa: BLE001 - the parent reports it as the check's reason
        found["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return found


def probe_gpu(env: dict[str, str]) -> dict[str, Any]:
    """`_probe_gpu` in a job forked from poc's job server."""
    from poc_cli.processes import forked

    try:
        return forked(_probe_gpu, env)
    except RuntimeError as error:
        return {"error": str(error)}


def probe_checks(found: dict[str, Any], expected_uuid: str) -> list[Check]:
    """Checks from one GPU's probe: pinning (the job sees exactly the GPU it was given) and precisions."""
    if found.get("error"):
        return [Check("a job can use the GPU", False, found["error"])]
    pinned = nvml.normalise_uuid(found["uuid"]) == nvml.normalise_uuid(expected_uuid) and found["visible"] == 1
    checks = [Check("pinning (--gpus)", pinned,
                    f"the job sees only {found['name']} {found['uuid']} as cuda:0" if pinned else
                    f"the job saw {found['visible']} GPU(s), cuda:0 = {found['uuid']}, not {expected_uuid}")]
    for name in ("bf16", "fp16"):
        works = found.get(name) is True
        detail = f"a {name} product ran on compute capability {found['capability']}"
        if not works:
            detail = (f"{found.get(name)}" if isinstance(found.get(name), str) else
                      f"not supported on compute capability {found['capability']}: use "
                      + ("fp16-mixed or fp32" if name == "bf16" else "bf16-mixed or fp32"))
        checks.append(Check(name, works, detail))
    return checks


def job_checks(record: StoredRecord) -> list[Check]:
    """What the tiny job's record says poc measures on this GPU: memory (per process or device-level,
    and why), energy (counter, integrated power, or none; whole GPU on MIG) and torch's own peak."""
    runtime = record.runtime or Runtime()
    checks = [Check("a tiny training job", record.ok,
                    f"ok at {runtime.precision} on {runtime.device_name}" if record.ok
                    else f"{record.status.value}: {record.error}")]
    gpu, energy = record.gpu, record.energy
    if gpu.peak_job_mib is not None:
        checks.append(Check("GPU memory per job", True,
                            f"{gpu.peak_job_mib:,.0f} MiB: " + ("NVML per-process memory" if gpu.peak_job_why is None
                                                                else f"device used memory minus the baseline, "
                                                                     f"because {gpu.peak_job_why}")))
    else:
        checks.append(Check("GPU memory per job", False, gpu.reason or "NVML gave no figure"))
    if energy.energy_j is not None:
        scope = energy.scope or "the job's GPU"
        checks.append(Check("energy", True, f"{energy.energy_j:,.1f} J from the {energy.method}, {scope}"))
    else:
        checks.append(Check("energy", False, energy.reason or "no energy figure"))
    reserved = record.memory.torch_peak_reserved_mib
    checks.append(Check("torch's own peak", reserved is not None,
                        f"{reserved:,.0f} MiB reserved" if reserved is not None else "not recorded"))
    return checks


def _tiny_recipe(folder: Path) -> Path:
    """A tiny random BERT, its data and a LoRA recipe training it for 30 steps on `cuda`."""
    import json

    import yaml
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder / "model")
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=32)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder / "model")
    rows = [{"text": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(6)), "label": "even" if i % 2 else "odd"}
            for i in range(64)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = {"name": "doctor-gpu", "model": str(folder / "model"),
              "data": {"train": str(folder / "data.jsonl"), "test_fraction": 0.25},
              "budget": {"lora_rank": 4}, "methods": [{"method": "lora", "lr": 1e-3}],
              "training": {"steps": 30, "batch_size": 8, "max_length": 16, "device": "cuda"}, "seeds": [0]}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def run_tiny_job(gpu: int, env: dict[str, str], folder: Path) -> StoredRecord:
    """The tiny recipe's LoRA job on GPU `gpu`, run as `poc run --gpus` runs a job; its record."""
    from poc_cli.isolation import Slot, run_isolated
    from poc_cli.plan import make_plan
    from poc_cli.recipe import load_recipe
    from poc_cli.worker import Attempt

    plan = make_plan(load_recipe(_tiny_recipe(folder)))
    job = next(j for j in plan.run_jobs({}) if j.allocation.method == "lora")
    attempt = Attempt(f"doctor-gpu-{gpu}", folder / "attempt", folder / "job.log")
    return read_record(run_isolated(job, attempt, slot=Slot(f"gpu {gpu}", env=env), stop=threading.Event()))


def gpu_checks() -> list[tuple[str, list[Check]]]:
    """Every check, grouped: the machine's, then each visible GPU's (by torch index)."""
    from poc_cli.bitsandbytes_check import bitsandbytes_problem
    from poc_cli.executors.local import gpu_slots

    groups = [("machine", machine_checks())]
    count = torch.cuda.device_count()
    for slot, index in zip(gpu_slots(list(range(count)), count=count,
                                     visible=os.environ.get("CUDA_VISIBLE_DEVICES")), range(count)):
        expected = str(torch.cuda.get_device_properties(index).uuid)
        checks = probe_checks(probe_gpu(slot.env), expected)
        problem = bitsandbytes_problem(index)
        checks.append(Check("bitsandbytes (4- and 8-bit bases)", problem is None,
                            "nf4 and int8 layers ran on this GPU" if problem is None else problem))
        with tempfile.TemporaryDirectory(prefix="poc-doctor-") as tmp:
            checks += job_checks(run_tiny_job(index, slot.env, Path(tmp)))
        groups.append((f"cuda:{index} {torch.cuda.get_device_name(index)} ({slot.env['CUDA_VISIBLE_DEVICES']})",
                       checks))
    return groups
