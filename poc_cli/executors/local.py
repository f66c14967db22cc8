"""The local executor: jobs on this machine, one per slot at once (`--parallel N` CPU slots, or one
slot per GPU of `--gpus 0,1,...`). The default is one slot, one job at a time."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence

from poc_cli import hardware
from poc_cli.errors import UsageError
from poc_cli.executors import Finished
from poc_cli.isolation import EventCallback, Slot, run_isolated
from poc_cli.plan import Job
from poc_cli.processes import start_server
from poc_cli.recipe import TrainingSpec
from poc_cli.worker import Attempt


def cpu_slots(parallel: int, cores: int | None = None) -> list[Slot]:
    """`parallel` slots that share the cores equally; one slot keeps torch's default threads."""
    if parallel < 1:
        raise UsageError(f"--parallel: {parallel} is not a number of jobs; use 1 or more")
    if parallel == 1:
        return [Slot("cpu")]
    cores = cores or os.cpu_count() or 1
    if parallel > cores:
        raise UsageError(f"--parallel: {parallel} jobs at once on {cores} CPU core(s) would give each less than "
                         f"one; use at most {cores}")
    return [Slot(f"cpu {i + 1}/{parallel}", threads=cores // parallel) for i in range(parallel)]


def parse_gpus(text: str) -> list[int]:
    """`--gpus 0,1,3` as indices, each once."""
    try:
        gpus = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--gpus: {text!r} is not a list of GPU indices such as 0,1,2,3") from None
    if any(g < 0 for g in gpus) or len(set(gpus)) != len(gpus):
        raise UsageError(f"--gpus: {text!r} must list each GPU index (0 or more) once")
    return gpus


def gpu_slots(gpus: Sequence[int], *, count: int, visible: str | None, cores: int | None = None) -> list[Slot]:
    """One slot per listed GPU (torch's index, as `cuda:N` here), pinned by CUDA_VISIBLE_DEVICES: the
    job sees that GPU alone, so its CUDA and NVML figures are that GPU's. Where this process is
    itself limited by CUDA_VISIBLE_DEVICES, index N is the Nth entry of that list."""
    if count == 0:
        raise UsageError("--gpus: torch sees no CUDA GPU here; leave --gpus out (or use --parallel on the CPU)")
    missing = [g for g in gpus if g >= count]
    if missing:
        raise UsageError(f"--gpus: GPU {missing[0]} is not here: torch sees {count} (0 to {count - 1})"
                         + (f"; CUDA_VISIBLE_DEVICES={visible}" if visible is not None else ""))
    physical = visible.split(",") if visible else [str(i) for i in range(count)]
    threads = max(1, (cores or os.cpu_count() or 1) // len(gpus))
    return [Slot(f"gpu {g}", env={"CUDA_VISIBLE_DEVICES": physical[g].strip()}, threads=threads) for g in gpus]


def local_slots(training: TrainingSpec, *, parallel: int, gpus: str | None) -> list[Slot]:
    """The slots `poc run --parallel/--gpus` asks for, checked against the recipe's device."""
    if gpus is None:
        slots = cpu_slots(parallel)
        if len(slots) > 1 and hardware.pick_device(training.device).type == "cuda":
            raise UsageError("--parallel: these jobs train on the GPU; run one per GPU with --gpus 0,1,... "
                             "(or set training.device: cpu)")
        return slots
    if parallel != 1:
        raise UsageError("--parallel and --gpus: use one of them (--gpus runs one job per listed GPU)")
    if training.device == "cpu" or training.device.startswith("cuda:"):
        raise UsageError(f"--gpus: the recipe's training.device is {training.device!r}; with --gpus set it to "
                         "auto or cuda (each job is given its GPU)")
    import torch

    return gpu_slots(parse_gpus(gpus), count=torch.cuda.device_count(),
                     visible=os.environ.get("CUDA_VISIBLE_DEVICES"))


class LocalExecutor:
    """Jobs in child processes of this machine, one per free slot."""

    name = "local"

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = len(slots)
        self._free: queue.Queue[Slot] = queue.Queue()
        for slot in slots:
            self._free.put(slot)

    def start(self) -> None:
        """The fork server, started with Ctrl-C ignored (see `processes.start_server`)."""
        start_server()

    def facts(self, training: TrainingSpec) -> hardware.Facts:
        return hardware.facts(training)

    def run(self, job: Job, attempt: Attempt, *, stop: threading.Event, on_event: EventCallback) -> Finished:
        slot = self._free.get()
        try:
            on_event(job, {"event": "start", "where": slot.name})
            record = run_isolated(job, attempt, slot=slot, stop=stop, on_event=on_event)
        finally:
            self._free.put(slot)
        record.setdefault("placement", {}).update(executor=self.name, slot=slot.name)
        return Finished(record, adapter=attempt.adapter)

    def close(self) -> None:
        """Nothing to let go: the fork server exits with this process."""
