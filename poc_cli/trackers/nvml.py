"""NVML access: is it there, which GPUs, and which NVML device a CUDA job runs on.

Every call goes through the `pynvml` module object (never `from pynvml import ...`), so
tests can replace its functions with a fake NVML and drive this logic on a CPU machine.
NVML order need not match CUDA order, so devices are matched by UUID.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency, but a broken install must not crash a run
    pynvml = None  # type: ignore[assignment]

MIB = 2**20


@dataclass(frozen=True)
class GpuDevice:
    """One NVML device (a whole GPU or a MIG instance)."""

    uuid: str
    name: str
    total_mib: float
    nvml_index: int | None
    mig: bool


@dataclass(frozen=True)
class NvmlInfo:
    """What NVML reports about the machine; `reason` says why it is unavailable."""

    available: bool
    reason: str | None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    nvml_version: str | None = None
    devices: tuple[GpuDevice, ...] = ()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def normalise_uuid(uuid: str) -> str:
    """Compare UUIDs without their `GPU-` / `MIG-` prefix and case."""
    text = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def unavailable_reason(exc: BaseException) -> str:
    """A user-facing reason for an NVML failure."""
    if pynvml is not None and isinstance(exc, (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded)):
        return "no NVIDIA GPU (NVML library or driver not found)"
    return f"NVML error: {exc}"


def init() -> str | None:
    """Initialise NVML; returns None when it works, else the reason it does not."""
    if pynvml is None:
        return "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError subclasses, or OSError from a broken library
        return unavailable_reason(exc)
    return None


def shutdown() -> None:
    """Release NVML (reference counted by the library); errors are irrelevant here."""
    try:
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - nothing useful to do about a failed shutdown
        pass


def describe_handle(handle: Any, index: int | None) -> GpuDevice:
    """Name, UUID and memory of a device handle."""
    mig = False
    try:
        mig = bool(pynvml.nvmlDeviceIsMigDeviceHandle(handle))
    except Exception:  # noqa: BLE001 - older drivers: not a MIG handle
        mig = False
    return GpuDevice(
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        total_mib=pynvml.nvmlDeviceGetMemoryInfo(handle).total / MIB,
        nvml_index=index,
        mig=mig,
    )


def machine_info() -> NvmlInfo:
    """Driver, CUDA driver and NVML versions and every device; never raises."""
    reason = init()
    if reason is not None:
        return NvmlInfo(available=False, reason=reason)
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        devices = tuple(
            describe_handle(pynvml.nvmlDeviceGetHandleByIndex(i), i) for i in range(pynvml.nvmlDeviceGetCount())
        )
        info = NvmlInfo(
            available=bool(devices),
            reason=None if devices else "NVML sees no GPU",
            driver_version=_text(pynvml.nvmlSystemGetDriverVersion()),
            cuda_driver_version=f"{cuda // 1000}.{(cuda % 1000) // 10}",
            nvml_version=_text(pynvml.nvmlSystemGetNVMLVersion()),
            devices=devices,
        )
    except Exception as exc:  # noqa: BLE001 - a partial NVML is reported, not raised
        info = NvmlInfo(available=False, reason=unavailable_reason(exc))
    shutdown()
    return info


def mig_handles(handle: Any) -> list[Any]:
    """The MIG instances of a whole GPU (none where MIG is off or not supported): a job in a container
    given one slice runs on a MIG handle, whose used memory is that slice's alone."""
    try:
        slots = int(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle))
    except Exception:  # noqa: BLE001 - not MIG-capable, or an older driver
        return []
    found = []
    for index in range(slots):
        try:
            found.append(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index))
        except Exception:  # noqa: BLE001 - an empty slot
            continue
    return found


def _handle_by_uuid(uuid: str) -> Any:
    """The handle of a GPU or MIG device by UUID, with or without its prefix."""
    key = normalise_uuid(uuid)
    for prefix in ("GPU-", "MIG-"):
        try:
            handle = pynvml.nvmlDeviceGetHandleByUUID(prefix + key)
        except Exception:  # noqa: BLE001 - not found under this prefix
            continue
        return handle
    # CUDA accepts unambiguous UUID prefixes; NVML wants the whole UUID.
    matches = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(i)
        if normalise_uuid(_text(pynvml.nvmlDeviceGetUUID(handle))).startswith(key):
            matches.append(handle)
    if len(matches) == 1:
        return matches[0]
    raise LookupError(f"no NVML device with UUID {uuid}")


def resolve_handle(job_uuid: str | None, visible: str | None = None) -> tuple[Any, str]:
    """The NVML handle of the job's device and how it was found.

    Preferred: the UUID the job reported from torch. Else the first CUDA_VISIBLE_DEVICES
    entry: a `GPU-`/`MIG-` UUID, or an index, which equals the NVML index only under
    CUDA_DEVICE_ORDER=PCI_BUS_ID (or when there is one GPU).
    """
    if job_uuid:
        return _handle_by_uuid(job_uuid), "UUID reported by the job"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    first = (visible or "").split(",")[0].strip()
    if first.upper().startswith(("GPU-", "MIG-")):
        return _handle_by_uuid(first), "CUDA_VISIBLE_DEVICES UUID"
    index = int(first) if first.isdigit() else 0
    count = pynvml.nvmlDeviceGetCount()
    if count == 1 or os.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID":
        return pynvml.nvmlDeviceGetHandleByIndex(index), f"CUDA index {index} in PCI bus order"
    raise LookupError(
        f"cannot tell which of {count} GPUs CUDA index {index} is: set CUDA_DEVICE_ORDER=PCI_BUS_ID "
        "or CUDA_VISIBLE_DEVICES to a GPU UUID"
    )
