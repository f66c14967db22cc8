"""The local executor: jobs on this machine, one per slot at once (`--parallel N` CPU slots, or one
slot per GPU of `--gpus 0,1,...`). The default is one slot, one job at a time."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence

from poc_cli import hardware
from poc_cli.errors import UsageError
from poc_cli.executors import Finished
from poc_cli.isolation import EventCallback, Slot, run_isolated
from poc_cli.plan import Job
from poc_cli.processes import start_server
from poc_cli.recipe import TrainingSpec
from poc_cli.records.status import Status
from poc_cli.worker import Attempt, failure_record


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


class SlotPool:
    """The executor's slots, handed out whole. A job across N GPUs takes N GPU slots at once, as one slot
    that pins those N GPUs (whole GPUs, never shared with another job while it runs), and the smaller jobs
    run beside it on the rest; on CPU slots a job's processes share one slot's cores. First come, first
    served: a job waiting for several GPUs is not passed by the jobs behind it."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self._slots = list(slots)
        self._free = list(slots)
        self._line: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def gpus(self) -> int:
        """GPU slots (0: CPU slots)."""
        return sum(1 for slot in self._slots if slot.env.get("CUDA_VISIBLE_DEVICES"))

    def take(self, count: int) -> list[Slot]:
        """`count` free slots, waiting in line for them."""
        ticket = object()
        with self._changed:
            self._line.append(ticket)
            self._changed.wait_for(lambda: self._line[0] is ticket and len(self._free) >= count)
            self._line.popleft()
            taken, self._free = self._free[:count], self._free[count:]
            self._changed.notify_all()
            return taken

    def give_back(self, slots: Sequence[Slot]) -> None:
        with self._changed:
            self._free = sorted([*self._free, *slots], key=self._slots.index)
            self._changed.notify_all()


def joined(slots: Sequence[Slot]) -> Slot:
    """One slot of several GPU slots: a job across their GPUs sees them all (as cuda:0, cuda:1, ...)."""
    if len(slots) == 1:
        return slots[0]
    gpus = [slot.env["CUDA_VISIBLE_DEVICES"] for slot in slots]
    return Slot("gpu " + ",".join(slot.name.removeprefix("gpu ") for slot in slots),
                env={"CUDA_VISIBLE_DEVICES": ",".join(gpus)}, threads=sum(slot.threads or 1 for slot in slots))


class LocalExecutor:
    """Jobs in child processes of this machine, one per free slot (a job across GPUs: one per GPU it spans)."""

    name = "local"

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = len(slots)
        self._pool = SlotPool(slots)

    def start(self) -> None:
        """The fork server, started with Ctrl-C ignored (see `processes.start_server`)."""
        start_server()

    def facts(self, training: TrainingSpec) -> hardware.Facts:
        return hardware.facts(training)

    def run(self, job: Job, attempt: Attempt, *, stop: threading.Event, on_event: EventCallback) -> Finished:
        count = job.gpus if self._pool.gpus else 1
        if count > max(self._pool.gpus, 1):
            record = failure_record(job, attempt, Status.FAILED, f"the job spans {job.gpus} GPUs and --gpus lists "
                                    f"{self._pool.gpus}: list at least {job.gpus}")
            return Finished(record.to_dict())
        taken = self._pool.take(count)
        slot = joined(taken)
        try:
            on_event(job, {"event": "start", "where": slot.name})
            record = run_isolated(job, attempt, slot=slot, stop=stop, on_event=on_event)
        finally:
            self._pool.give_back(taken)
        record.setdefault("placement", {}).update(executor=self.name, slot=slot.name)
        return Finished(record, adapter=attempt.adapter)

    def close(self) -> None:
        """Nothing to let go: the fork server exits with this process."""
