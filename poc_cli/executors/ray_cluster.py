"""The Ray executor: each job a Ray task on whichever node has its CPUs and GPUs free.

Inside its Ray worker a job runs as it does locally (`run_isolated`: a child process of its
own, measured from outside by the worker: NVML keyed by the GPU Ray assigned, the host memory
of the job's own processes), and its record comes back to the driver, which writes the store.
Adapters are copied to `--artifacts DIR` (storage every node shares) or sent back with the
record. A worker lost mid-job gives a failed record naming its node; the other jobs go on.
Progress events travel through one Ray queue (an actor) per run.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from poc_cli import hardware
from poc_cli.errors import PocError, UsageError, first_line
from poc_cli.executors import Finished
from poc_cli.isolation import INTERRUPTED, EventCallback, Slot, run_isolated
from poc_cli.paths import why, writable_folder
from poc_cli.plan import Job
from poc_cli.processes import start_server
from poc_cli.recipe import TrainingSpec
from poc_cli.records.status import Status
from poc_cli.store import recipe_slug
from poc_cli.worker import Attempt, failure_record

RAY_EXTRA = "pip install 'poc-cli[ray]'"
POLL_S = 0.2
STEP_EVERY_S = 0.5  # progress steps sent from a worker at most this often (each is a call to the queue actor)
PROBE_TIMEOUT_S = 300


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray: Ray is not installed: {RAY_EXTRA}") from None
    return ray


def _probe(training: TrainingSpec) -> hardware.Facts:
    """Runs on a worker with a job's resources: what that machine makes of the training settings."""
    return hardware.facts(training)


def _adapter_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _publish(adapter: Path, artifacts: Path, job: Job) -> Path:
    """Copy a job's adapter onto the shared storage, whole or not at all (copied beside, then renamed)."""
    target = artifacts / recipe_slug(job.recipe.name) / job.id
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{job.id}."))
    try:
        shutil.copytree(adapter, staging, dirs_exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def gpu_pinning(gpu_ids: list[str], gpus: float) -> dict[str, str]:
    """The job process's CUDA_VISIBLE_DEVICES, from the GPUs Ray assigned to this task (not from the
    worker's environment, which a reused worker may have from another task): the `gpus` a job asked for
    (several for a job across GPUs), or none at all. RuntimeError where Ray assigned other than what the
    job asked for."""
    if gpus == 0:
        return {"CUDA_VISIBLE_DEVICES": ""}
    if len(gpu_ids) != gpus:
        raise RuntimeError(f"Ray assigned {len(gpu_ids)} GPU(s) ({', '.join(gpu_ids) or 'none'}) to a job that "
                           f"asked for {gpus:g} (ray.get_gpu_ids()); check the cluster's GPU resources")
    return {"CUDA_VISIBLE_DEVICES": ",".join(gpu_ids)}


def poc_job(job: Job, attempt_id: str, events: Any, artifacts: str | None, threads: int,
            gpus: float) -> dict[str, Any]:
    """The Ray task (its worker's title reads `ray::poc_job` while it runs): the job in a child
    process of this worker, then its record, log and adapter (unless copied to `artifacts`)."""
    import ray

    node = ray.util.get_node_ip_address()
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    where = f"node {node}" + (f" gpu {','.join(gpu_ids)}" if gpu_ids else "")
    last_step = 0.0

    def forward(_: Job, event: dict[str, Any]) -> None:
        nonlocal last_step
        if event.get("event") == "step" and event["step"] != event["total"]:
            if time.monotonic() - last_step < STEP_EVERY_S:
                return
            last_step = time.monotonic()
        events.put_nowait((job.stage.value, job.id, event))

    forward(job, {"event": "start", "where": where, "node": node})
    with tempfile.TemporaryDirectory(prefix="poc-job-") as tmp:
        attempt = Attempt(attempt_id, Path(tmp) / "attempt", Path(tmp) / "job.log")
        try:
            env = gpu_pinning(gpu_ids, gpus)
        except RuntimeError as error:
            record = failure_record(job, attempt, Status.FAILED, str(error)).to_dict()
            record["placement"] = {"executor": "ray", "node": node, "gpu_ids": gpu_ids}
            return {"record": record, "adapter": None, "log": None}
        start_server()
        record = run_isolated(job, attempt, slot=Slot(where, env=env, threads=threads), stop=threading.Event(),
                              on_event=forward)
        record.setdefault("placement", {}).update(executor="ray", node=node, gpu_ids=gpu_ids, worker_pid=os.getpid(),
                                                  node_id=ray.get_runtime_context().get_node_id())
        adapter = None
        if attempt.adapter.is_dir():
            if artifacts is not None:
                record["adapter"]["path"] = str(_publish(attempt.adapter, Path(artifacts), job))
            else:
                adapter = _adapter_files(attempt.adapter)
        log = attempt.log.read_bytes() if attempt.log.is_file() else None
    return {"record": record, "adapter": adapter, "log": log}


CONNECT_TIMEOUT_S = 5.0  # Ray itself waits minutes on a head that is not there, printing as it waits
RAY_CLIENT_PORT = 10001


def _answers(address: str) -> None:
    """A head node's address must accept a connection within CONNECT_TIMEOUT_S (ray.init would retry for
    minutes); UsageError names --ray-address otherwise. `ray://` addresses (Ray Client) likewise."""
    client = "://" in address  # ray://host[:port], Ray Client's port by default; else a head's host:port
    parsed = urlparse(address if client else f"gcs://{address}")
    try:
        host, port = parsed.hostname, parsed.port or (RAY_CLIENT_PORT if client else None)
    except ValueError:
        host = port = None
    if not host or not port:
        raise UsageError(f"--ray-address: {address!r} is not host:port (e.g. 10.0.0.5:6379) or ray://host:port")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else error.strerror or str(error)
        raise UsageError(f"--ray-address: nothing answered at {host}:{port} within {CONNECT_TIMEOUT_S:g} s ({reason}); "
                         "start the cluster (ray start --head) or leave --ray-address out for a local one") from None


class RayExecutor:
    """Jobs as Ray tasks, as many at once as the cluster's CPUs and GPUs hold."""

    name = "ray"

    def __init__(self, ray: Any, *, gpus_per_job: float, cpus_per_job: float, artifacts: Path | None,
                 slots: int) -> None:
        from ray.util.queue import Queue

        self._ray = ray
        self.gpus_per_job, self.cpus_per_job, self.artifacts, self.slots = gpus_per_job, cpus_per_job, artifacts, slots
        self._events = Queue(actor_options={"num_cpus": 0})
        self._task = ray.remote(poc_job)
        self._listeners: dict[tuple[str, str], tuple[Job, EventCallback]] = {}
        self._where: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pump = threading.Thread(target=self._route, name="poc-ray-events", daemon=True)
        self._pump.start()

    @classmethod
    def connect(cls, *, address: str, gpus_per_job: float | None, cpus_per_job: float,
                artifacts: Path | None) -> RayExecutor:
        """Connect to the cluster at `address` (auto: this machine's, or a new local one) and size
        the run by its resources; UsageError names the option that does not fit."""
        if not math.isfinite(cpus_per_job) or cpus_per_job <= 0:
            raise UsageError(f"--cpus-per-job: {cpus_per_job:g} is not a number of CPUs; use more than 0")
        if gpus_per_job is not None and (not math.isfinite(gpus_per_job) or gpus_per_job < 0):
            raise UsageError(f"--gpus-per-job: {gpus_per_job:g} is not a number of GPUs; use 0 or more")
        if gpus_per_job is not None and gpus_per_job not in (0, 1):
            raise UsageError(f"--gpus-per-job: {gpus_per_job:g}: a job runs on one whole GPU or on none (0 or 1); "
                             "a fraction shares a GPU between jobs and mixes their step times, energy and memory, "
                             "and a job uses only one")
        if artifacts is not None:
            writable_folder(artifacts, "--artifacts")
        if address != "auto":
            _answers(address)
        ray = _ray()
        import logging

        try:
            ray.init(address=None if address == "auto" else address, logging_level=logging.ERROR,
                     log_to_driver=False, include_dashboard=False if address == "auto" else None)
        except Exception as error:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
            raise UsageError(f"--ray-address: cannot connect to Ray at {address!r} ({first_line(error)[:200]})") from None
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        per_gpu = gpus_per_job if gpus_per_job is not None else (1.0 if gpus > 0 else 0.0)
        fits = [math.floor(cpus / cpus_per_job)] + ([math.floor(gpus / per_gpu)] if per_gpu > 0 else [])
        if min(fits) < 1:
            ray.shutdown()
            option = "--gpus-per-job" if per_gpu > 0 and math.floor(gpus / per_gpu) < 1 else "--cpus-per-job"
            raise UsageError(f"{option}: a job asks for {cpus_per_job:g} CPU(s) and {per_gpu:g} GPU(s), but the "
                             f"cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s)")
        return cls(ray, gpus_per_job=per_gpu, cpus_per_job=cpus_per_job, artifacts=artifacts, slots=min(fits))

    def start(self) -> None:
        """Nothing to start here: each worker starts its own fork server."""

    def _options(self, gpus: int = 1) -> dict[str, Any]:
        """A job's resources: a job across `gpus` GPUs asks for them all in one task, which Ray places on one
        node (a task's resources are one node's), whole, with CUDA_VISIBLE_DEVICES set to them.
        A lost worker is recorded, not retried behind the driver's back: a rerun resumes it."""
        return {"num_cpus": self.cpus_per_job, "num_gpus": self.gpus_per_job * gpus, "max_retries": 0}

    def facts(self, training: TrainingSpec) -> hardware.Facts:
        """Found on a worker with a job's resources (a GPU node resolves `auto` as a GPU would); a job may
        span the GPUs of the cluster's largest node."""
        ref = self._ray.remote(_probe).options(**self._options()).remote(training)
        try:
            found = self._ray.get(ref, timeout=PROBE_TIMEOUT_S)
            node_gpus = max((node["Resources"].get("GPU", 0) for node in self._ray.nodes() if node.get("Alive")),
                            default=0)
            return replace(found, gpus=int(node_gpus)) if found.gpus else found
        except self._ray.exceptions.GetTimeoutError:
            self._ray.cancel(ref, force=True)
            raise UsageError(f"--executor ray: no worker with {self.cpus_per_job:g} CPU(s) and "
                             f"{self.gpus_per_job:g} GPU(s) free within {PROBE_TIMEOUT_S} s") from None
        except self._ray.exceptions.RayError as error:
            raise PocError(f"--executor ray: the cluster could not check the recipe's hardware "
                           f"({type(error).__name__})") from None

    def _route(self) -> None:
        """Hand each event from the workers to its job's callback (on this thread)."""
        from ray.util.queue import Empty

        while not self._closed.is_set():
            try:
                stage, job_id, event = self._events.get(timeout=POLL_S)
            except Empty:
                continue
            except Exception:  # noqa: BLE001 - the queue is gone: the run is ending
                return
            key = (stage, job_id)
            with self._lock:
                if event.get("event") == "start":
                    self._where[key] = event["where"]
                listener = self._listeners.get(key)
            if listener is not None:
                listener[1](listener[0], event)

    def _failed(self, job: Job, attempt: Attempt, status: Status, error: str) -> Finished:
        record = failure_record(job, attempt, status, error)
        record.placement = {"executor": self.name, "node": self._where.get((job.stage.value, job.id))}
        return Finished(record.to_dict())

    def run(self, job: Job, attempt: Attempt, *, stop: threading.Event, on_event: EventCallback) -> Finished:
        key = (job.stage.value, job.id)
        with self._lock:
            self._listeners[key] = (job, on_event)
        ref = self._task.options(**self._options(job.gpus), name=f"poc_job {job.allocation.label}").remote(
            job, attempt.id, self._events, None if self.artifacts is None else str(self.artifacts),
            max(1, int(self.cpus_per_job)), self.gpus_per_job * job.gpus)
        try:
            return self._wait(job, attempt, ref, stop)
        finally:
            with self._lock:
                self._listeners.pop(key, None)
                self._where.pop(key, None)

    def _wait(self, job: Job, attempt: Attempt, ref: Any, stop: threading.Event) -> Finished:
        ray = self._ray
        while not ray.wait([ref], timeout=POLL_S)[0]:
            if stop.is_set():
                ray.cancel(ref, force=True)
                return self._failed(job, attempt, Status.INTERRUPTED, INTERRUPTED)
        try:
            result = ray.get(ref)
        except ray.exceptions.OutOfMemoryError as error:
            return self._failed(job, attempt, Status.OOM, f"Ray's memory monitor stopped the job ({_first(error)})")
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.TaskCancelledError) as error:
            node = self._where.get((job.stage.value, job.id)) or "an unknown node (the job had not reported)"
            return self._failed(job, attempt, Status.FAILED,
                                f"the Ray worker on {node} was lost mid-job ({type(error).__name__}); "
                                "a rerun runs the job again")
        except ray.exceptions.RayError as error:
            return self._failed(job, attempt, Status.FAILED, f"the Ray task failed: {_first(error)}")
        return self._received(attempt, result)

    def _received(self, attempt: Attempt, result: dict[str, Any]) -> Finished:
        """The record as the worker sent it, its adapter and log written on the driver's disk for the commit."""
        record = result["record"]
        adapter = log = None
        try:
            attempt.folder.mkdir(parents=True, exist_ok=True)
            if result["adapter"] is not None:
                adapter = attempt.folder / "adapter"
                for name, content in result["adapter"].items():
                    (adapter / name).parent.mkdir(parents=True, exist_ok=True)
                    (adapter / name).write_bytes(content)
            if result["log"] is not None:
                log = attempt.folder / "job.log"
                log.write_bytes(result["log"])
        except OSError as failure:  # the record says so; on a full disk the run stops
            record["status"], record["error"] = Status.FAILED.value, f"{why(failure)} (receiving the job's adapter)"
            return Finished(record)
        return Finished(record, adapter=adapter, log=log)

    def close(self) -> None:
        self._closed.set()
        self._pump.join(timeout=2)
        self._ray.shutdown()


def _first(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[-1] if text else type(error).__name__)[:300]
