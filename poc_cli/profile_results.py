"""What a stored profile says: how each (method, batch size) point ended, and the largest batch that fits.

The report and `poc compare` read profiles through this module, never through `profile`, which
imports torch, the worker and peft to take the measurements.
"""

from __future__ import annotations

from typing import Any


class Status:
    """How one (method, batch size) point ended."""

    OK = "ok"
    OOM = "oom"  # ran out of memory
    SKIPPED = "skipped"  # larger than a batch that ran out of memory
    FAILED = "failed"


def largest_fitting(profile: dict[str, Any], limit_mib: float | None) -> dict[tuple[str, str | None], int | None]:
    """Per (method label, bases): the largest measured batch whose peak is within `limit_mib` (the
    profile's memory limit, else the device's capacity); None where none is."""
    limit = limit_mib if limit_mib is not None else profile.get("capacity_mib")
    out: dict[tuple[str, str | None], int | None] = {}
    for p in profile["points"]:
        key = (p["label"], p["bases"])
        out.setdefault(key, None)
        fits = p["status"] == Status.OK and (limit is None or (p["peak_memory_mib"] or 0) <= limit)
        if fits and (out[key] is None or p["batch_size"] > out[key]):
            out[key] = p["batch_size"]
    return out
