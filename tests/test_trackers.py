"""Trackers: physics on this machine (time, host memory), and the GPU logic on a fake NVML.

The fake replaces `pynvml`'s functions, not the tracker, so the tracker code that runs
here is the code that runs on a GPU machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml
import pytest

from poc_cli.isolation import Measurements, _add_measurements
from poc_cli.trackers import nvml
from poc_cli.trackers.energy import energy_over
from poc_cli.trackers.gpu_memory import CONTAINER_FALLBACK, DEVICE_FALLBACK, NO_FIGURE, PER_PROCESS, GpuSampler
from poc_cli.trackers.host_memory import ProcessTreeMemory
from poc_cli.trackers.timing import Stopwatch

MIB = 2**20
ALLOCATE = """
import os, sys, time
import numpy as np
mib = int(sys.argv[1])
print("ready", flush=True)
time.sleep(0.5)
block = np.ones(mib * 2**20, dtype=np.uint8)  # ones: every page is touched
time.sleep(1.0)
"""


# --- physics -------------------------------------------------------------------------------


def test_stopwatch_sees_a_known_sleep_within_10_percent() -> None:
    with Stopwatch() as sw:
        time.sleep(0.5)
    assert sw.result is not None
    assert sw.result.seconds == pytest.approx(0.5, rel=0.10)
    assert sw.result.cpu_seconds < 0.1  # sleeping costs no CPU
    assert sw.result.ended_unix - sw.result.started_unix == pytest.approx(0.5, rel=0.10)


def _rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MIB


def test_host_tracker_sees_a_known_allocation_within_10_percent() -> None:
    proc = subprocess.Popen([sys.executable, "-c", ALLOCATE, "400"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    baseline = _rss_mib(proc.pid)
    with ProcessTreeMemory(proc.pid, interval_s=0.02) as tracker:
        proc.wait(timeout=60)
    peak = tracker.result.peak_tree_rss_mib
    assert peak is not None
    assert peak - baseline == pytest.approx(400, rel=0.10)


def test_host_tracker_includes_children() -> None:
    parent = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {ALLOCATE!r}, '300'], stdout=subprocess.PIPE, text=True)\n"
        "print(child.stdout.readline().strip(), flush=True)\n"
        "child.wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    with ProcessTreeMemory(proc.pid, interval_s=0.02) as tracker:
        proc.wait(timeout=60)
    # Two Python processes (about 30-40 MiB each with numpy) plus the child's 300 MiB.
    assert tracker.result.peak_tree_rss_mib is not None
    assert 300 < tracker.result.peak_tree_rss_mib < 300 * 1.1 + 120


# --- a fake NVML -----------------------------------------------------------------------------


@dataclass
class FakeDevice:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    total: int = 80 * 1024 * MIB
    used: list[int] = field(default_factory=lambda: [500 * MIB])  # successive readings; last one repeats
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes; None: no figure)
    energy_supported: bool = True
    energy_mj_per_s: float = 300_000.0  # 300 W
    power_mw: int = 200_000
    mig: bool = False
    fail_after: int | None = None  # memory queries raise after this many successful ones
    reads: int = 0
    parent: FakeDevice | None = None  # a MIG slice's whole GPU


class FakeNvml:
    """Replaces the pynvml functions the trackers call; `devices` in NVML index order."""

    def __init__(self, devices: list[FakeDevice], mig_devices: list[FakeDevice] | None = None) -> None:
        self.devices = devices
        self.mig = mig_devices or []
        self.t0 = time.time()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def by_uuid(uuid: str) -> FakeDevice:
            for device in self.devices + self.mig:
                if device.uuid == uuid:
                    return device
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

        def memory(device: FakeDevice) -> SimpleNamespace:
            if device.fail_after is not None and device.reads >= device.fail_after:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            used = device.used[min(device.reads, len(device.used) - 1)]
            device.reads += 1
            return SimpleNamespace(total=device.total, used=used, free=device.total - used)

        def parent(device: FakeDevice) -> FakeDevice:
            if device.parent is None:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            return device.parent

        def energy(device: FakeDevice) -> int:
            if not device.energy_supported:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
            return int((time.time() - self.t0) * device.energy_mj_per_s / 1000 * 1000)

        def slices(device: FakeDevice) -> list[FakeDevice]:
            if not any(m.parent is device for m in self.mig):
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)  # MIG off: as NVML says it
            return [m for m in self.mig if m.parent is device]

        def slice_at(device: FakeDevice, index: int) -> FakeDevice:
            found = slices(device)
            if index >= len(found):
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)  # an empty slot
            return found[index]

        fakes = {
            "nvmlInit": lambda: None,
            "nvmlDeviceGetMaxMigDeviceCount": lambda d: len(slices(d)) + 2,  # slots, some empty
            "nvmlDeviceGetMigDeviceHandleByIndex": slice_at,
            "nvmlShutdown": lambda: None,
            "nvmlDeviceGetCount": lambda: len(self.devices),
            "nvmlDeviceGetHandleByIndex": lambda i: self.devices[i],
            "nvmlDeviceGetHandleByUUID": by_uuid,
            "nvmlDeviceGetUUID": lambda d: d.uuid,
            "nvmlDeviceGetName": lambda d: d.name,
            "nvmlDeviceIsMigDeviceHandle": lambda d: int(d.mig),
            "nvmlDeviceGetDeviceHandleFromMigDeviceHandle": parent,
            "nvmlDeviceGetMemoryInfo": memory,
            "nvmlDeviceGetComputeRunningProcesses": lambda d: [
                SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in d.processes],
            "nvmlDeviceGetTotalEnergyConsumption": energy,
            "nvmlDeviceGetPowerUsage": lambda d: d.power_mw,
            "nvmlDeviceGetUtilizationRates": lambda d: SimpleNamespace(gpu=87, memory=40),
            "nvmlSystemGetDriverVersion": lambda: "550.54.15",
            "nvmlSystemGetCudaDriverVersion_v2": lambda: 12040,
            "nvmlSystemGetNVMLVersion": lambda: "12.550.54.15",
        }
        for name, fake in fakes.items():
            monkeypatch.setattr(pynvml, name, fake)


@pytest.fixture()
def job_tree() -> tuple[int, int]:
    """A real process with a real child: (job pid, child pid)."""
    code = "import subprocess, time; p = subprocess.Popen(['sleep', '30']); print(p.pid, flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    yield proc.pid, child
    import psutil

    for p in psutil.Process(proc.pid).children(recursive=True):
        p.kill()
    proc.kill()
    proc.wait()


def sample_for(sampler: GpuSampler, pid: int, uuid: str | None, seconds: float = 0.3):  # noqa: ANN201
    sampler.attach(pid, uuid)
    time.sleep(seconds)
    return sampler.stop()


def test_job_memory_sums_its_pid_and_children_only(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    job, child = job_tree
    device = FakeDevice("GPU-aaaa", processes=[(job, 1024 * MIB), (child, 512 * MIB), (999_999, 3000 * MIB)])
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job, "GPU-aaaa")
    assert memory.peak_job_mib == 1536
    assert memory.peak_job_scope.startswith("NVML per-process")
    assert memory.baseline_used_mib == 500 and not memory.busy_at_start
    assert memory.samples >= 5 and memory.reason is None
    assert memory.device["name"] == "NVIDIA H100 80GB HBM3" and memory.device["total_mib"] == 80 * 1024


def test_device_is_matched_by_uuid_not_index(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    devices = [FakeDevice("GPU-aaaa", used=[100 * MIB]), FakeDevice("GPU-bbbb", used=[7000 * MIB])]
    FakeNvml(devices).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job_tree[0], "bbbb")  # torch reports the UUID without its prefix
    assert memory.device["uuid"] == "GPU-bbbb" and memory.device["matched_by"] == "UUID reported by the job"
    assert memory.baseline_used_mib == 7000


@pytest.mark.parametrize(
    ("visible", "order", "expected"),
    [("GPU-bbbb", None, "GPU-bbbb"), ("MIG-cccc", None, "MIG-cccc"), ("GPU-bb", None, "GPU-bbbb"),
     ("1", "PCI_BUS_ID", "GPU-bbbb"), ("0,1", "PCI_BUS_ID", "GPU-aaaa")],
)
def test_cuda_visible_devices_mapping(monkeypatch: pytest.MonkeyPatch, visible: str, order: str | None,
                                      expected: str) -> None:
    FakeNvml([FakeDevice("GPU-aaaa"), FakeDevice("GPU-bbbb")], [FakeDevice("MIG-cccc", mig=True)]).install(monkeypatch)
    if order:
        monkeypatch.setenv("CUDA_DEVICE_ORDER", order)
    else:
        monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    handle, _ = nvml.resolve_handle(None, visible)
    assert handle.uuid == expected


def test_ambiguous_index_is_an_explained_failure(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    FakeNvml([FakeDevice("GPU-aaaa"), FakeDevice("GPU-bbbb")]).install(monkeypatch)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job_tree[0], None, seconds=0.05)
    assert memory.peak_job_mib is None
    assert "cannot tell which of 2 GPUs CUDA index 1 is" in memory.reason


def test_container_fallback_uses_device_memory_minus_baseline(
    monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]
) -> None:
    # NVML lists a host PID that is not ours; the device fills from 500 MiB to 2,500 MiB.
    device = FakeDevice("GPU-aaaa", used=[500 * MIB, 1500 * MIB, 2500 * MIB, 2000 * MIB],
                        processes=[(424242, 2000 * MIB)])
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job_tree[0], "GPU-aaaa")
    assert memory.peak_job_mib == 2000
    assert memory.peak_job_scope == CONTAINER_FALLBACK
    assert memory.peak_device_used_mib == 2500


def test_a_process_without_a_figure_is_no_figure_not_zero(monkeypatch: pytest.MonkeyPatch,
                                                           job_tree: tuple[int, int]) -> None:
    """NVML lists the job's PID with usedGpuMemory None (containers with recent drivers): summing it as 0
    would record 0 MiB as the job's memory; the device's used memory minus the baseline is used, and why."""
    job, _ = job_tree
    device = FakeDevice("GPU-aaaa", used=[500 * MIB, 2500 * MIB, 3500 * MIB], processes=[(job, None)])
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job, "GPU-aaaa")
    assert memory.peak_job_mib == 3000
    assert memory.peak_job_scope == f"{DEVICE_FALLBACK}: {NO_FIGURE}" and memory.peak_job_why == NO_FIGURE


def test_only_processes_with_a_figure_count(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    job, child = job_tree
    device = FakeDevice("GPU-aaaa", processes=[(job, None), (child, 700 * MIB)])
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job, "GPU-aaaa")
    assert memory.peak_job_mib == 700 and memory.peak_job_scope == PER_PROCESS and memory.peak_job_why is None


@pytest.mark.parametrize(("figure_mib", "reserved_mib", "why"), [
    (0, None, "NVML's per-process figure was 0 MiB"),
    (1000, 1500.0, "NVML's per-process figure (1,000 MiB) was below torch's own reserved peak (1,500 MiB)"),
])
def test_a_figure_that_cannot_be_the_job_falls_back(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int],
                                                     figure_mib: int, reserved_mib: float | None, why: str) -> None:
    job, _ = job_tree
    device = FakeDevice("GPU-aaaa", used=[500 * MIB, 2600 * MIB], processes=[(job, figure_mib * MIB)])
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    sample_for(sampler, job, "GPU-aaaa")
    memory = sampler.memory(torch_reserved_mib=reserved_mib)
    assert memory.peak_job_mib == 2100 and memory.peak_job_why == why
    assert memory.peak_job_scope == f"{DEVICE_FALLBACK}: {why}"
    # A figure at or above torch's reserved peak is the job's own.
    if reserved_mib is not None:
        assert sampler.memory(torch_reserved_mib=900.0).peak_job_mib == figure_mib


def test_a_job_on_a_mig_slice_has_the_slice_s_baseline_and_its_memory(monkeypatch: pytest.MonkeyPatch,
                                                                       job_tree: tuple[int, int]) -> None:
    """In a container on a MIG slice NVML lists no PID of the job: its memory is the slice's used memory
    minus the slice's own baseline, read before the job starts (not None, and never the host's RAM)."""
    whole = FakeDevice("GPU-aaaa", used=[30_000 * MIB])
    mig = FakeDevice("MIG-cccc", mig=True, parent=whole, used=[300 * MIB, 2_300 * MIB])
    FakeNvml([whole], [mig]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job_tree[0], "MIG-cccc")
    assert memory.baseline_used_mib == 300  # the slice's, not the whole GPU's 30,000
    assert memory.peak_job_mib == 2000 and memory.peak_job_scope == CONTAINER_FALLBACK
    assert not any("baseline" in e for e in memory.errors), memory.errors


def test_energy_on_a_mig_slice_is_the_whole_gpus_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                             job_tree: tuple[int, int]) -> None:
    whole = FakeDevice("GPU-aaaa", energy_mj_per_s=400_000)
    mig = FakeDevice("MIG-cccc", mig=True, energy_supported=False, parent=whole)
    FakeNvml([whole], [mig]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    sampler.attach(job_tree[0], "MIG-cccc")
    time.sleep(0.1)
    start = time.time()
    time.sleep(0.4)
    end = time.time()
    time.sleep(0.1)
    memory = sampler.stop()
    assert memory.device["mig"] and memory.device["energy_scope"].startswith("the whole GPU the MIG slice is part of")
    record = _add_measurements({"timing": {"train_started_unix": start, "train_ended_unix": end}},
                               Measurements(_host(), memory, sampler.samples), used_gpu=True)
    assert record["energy"]["method"] == "NVML total-energy counter"
    assert record["energy"]["energy_j"] == pytest.approx(400 * (end - start), rel=0.05)
    assert record["energy"]["scope"] == memory.device["energy_scope"]


def training_window(pid: int, seconds: float) -> tuple[GpuSampler, float, float]:
    """Sample a job with a `seconds`-long "training phase" in the middle; (sampler, start, end)."""
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    sampler.attach(pid, "GPU-aaaa")
    time.sleep(0.1)
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    time.sleep(0.1)
    sampler.stop()
    return sampler, start, end


def test_energy_from_the_counter(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    FakeNvml([FakeDevice("GPU-aaaa", energy_mj_per_s=300_000)]).install(monkeypatch)
    sampler, start, end = training_window(job_tree[0], 0.5)
    energy = energy_over(sampler.samples, start, end)
    assert energy.method == "NVML total-energy counter"
    assert energy.energy_j == pytest.approx(300 * (end - start), rel=0.05)
    assert energy.avg_power_w == pytest.approx(200) and energy.avg_gpu_util_pct == pytest.approx(87)


def test_unsupported_energy_counter_integrates_power(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    FakeNvml([FakeDevice("GPU-aaaa", energy_supported=False, power_mw=250_000)]).install(monkeypatch)
    sampler, start, end = training_window(job_tree[0], 0.4)
    assert not sampler.energy_supported
    energy = energy_over(sampler.samples, start, end)
    assert energy.method.startswith("integrated power samples")
    assert energy.energy_j == pytest.approx(250 * (end - start), rel=0.01)


def test_nvml_errors_mid_run_are_recorded_not_raised(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    job, _ = job_tree
    # Baseline read + 3 good samples, then every memory query fails.
    device = FakeDevice("GPU-aaaa", processes=[(job, 800 * MIB)], fail_after=4)
    FakeNvml([device]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sample_for(sampler, job, "GPU-aaaa")
    assert memory.peak_job_mib == 800  # the process list still answers
    assert memory.peak_device_used_mib == 500  # from the samples before the failure
    assert any(e.startswith("memory info:") for e in memory.errors)
    record = _add_measurements({"timing": {}}, Measurements(_host(), memory, sampler.samples), used_gpu=True)
    assert any("NVML errors during the job" in w for w in record["warnings"])


def _host():  # noqa: ANN202
    from poc_cli.trackers.host_memory import HostMemory

    return HostMemory(peak_tree_rss_mib=900.0, samples=10, interval_s=0.05)


def test_busy_gpu_at_start_is_flagged_and_warned(monkeypatch: pytest.MonkeyPatch, job_tree: tuple[int, int]) -> None:
    FakeNvml([FakeDevice("GPU-aaaa", used=[6000 * MIB])]).install(monkeypatch)
    sampler = GpuSampler(interval_s=0.02, busy_threshold_mib=1024)
    sampler.open()
    memory = sample_for(sampler, job_tree[0], "GPU-aaaa", seconds=0.05)
    assert memory.busy_at_start
    record = _add_measurements({"timing": {}}, Measurements(_host(), memory, sampler.samples), used_gpu=True)
    assert record["gpu"]["busy_at_start"] is True
    assert any("already had 6,000 MiB in use" in w for w in record["warnings"])


def test_machine_info_from_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml([FakeDevice("GPU-aaaa"), FakeDevice("GPU-bbbb")]).install(monkeypatch)
    info = nvml.machine_info()
    assert info.available and info.cuda_driver_version == "12.4" and info.driver_version == "550.54.15"
    assert [d.uuid for d in info.devices] == ["GPU-aaaa", "GPU-bbbb"]


def test_no_nvml_gives_a_reason_not_a_zero() -> None:
    if nvml.init() is None:
        nvml.shutdown()
        pytest.skip("this machine has a working NVML")
    sampler = GpuSampler(interval_s=0.02)
    sampler.open()
    memory = sampler.stop()
    assert memory.peak_job_mib is None and memory.peak_device_used_mib is None
    assert memory.reason == "no NVIDIA GPU (NVML library or driver not found)"
