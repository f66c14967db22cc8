"""One record for a job across processes: rank 0's, with every rank's figures, and the rank that failed.

Each rank of a job across GPUs (`distributed`) leaves a record in the attempt's folder (rank 0 the
job's, the others `rank<k>.json`); a rank that dies leaves none. The parent (`isolation`) makes
one record of them: rank 0's, with each rank's memory, placement and end in `distributed.ranks`,
the largest and the summed figures beside them, and, where a rank failed, that rank named with its
error, which is what ends the job (the other ranks fail after it, waiting on a collective).
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

from poc_cli.plan import Job
from poc_cli.records.status import Status
from poc_cli.worker import Attempt, failure_record

# What each rank's record holds that the job's record keeps per rank (memory figures, where it ran).
_MEMORY = ("torch_peak_allocated_mib", "torch_peak_reserved_mib", "host_peak_rss_mib")


def last_log_line(path: Path) -> str:
    """A log's last non-empty line ("" where there is none)."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def how_it_ended(code: int | None, log: Path) -> str:
    """Why a process that was not stopped left no record: how it ended, and its log's last line."""
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    hint = " (SIGKILL: possibly the out-of-memory killer)" if code == -signal.SIGKILL else ""
    last = last_log_line(log)
    return f"job process {how}{hint} before writing its record" + (f"; last log line: {last}" if last else "")


def read_record(path: Path, attempt: str) -> dict[str, Any] | None:
    """The record a job's process (or one of its ranks) left at `path` for attempt `attempt`, or None (it
    wrote none, or not whole, or one of another attempt)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("attempt") == attempt else None


def _figures(rank: int, record: dict[str, Any] | None, code: int | None) -> dict[str, Any]:
    """What the job's record keeps of one rank."""
    if record is None:
        return {"rank": rank, "status": Status.FAILED.value, "exit_code": code, "wrote_record": False}
    memory, placement = record.get("memory") or {}, record.get("placement") or {}
    return {"rank": rank, "status": record.get("status"), "exit_code": code, "wrote_record": True,
            "error": record.get("error"), "pid": placement.get("pid"), "host": placement.get("host"),
            "device": (record.get("runtime") or {}).get("device"),
            **{key: memory.get(key) for key in _MEMORY}}


def _culprit(figures: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The rank whose failure ended the job: one that died without a record before one that recorded an
    error (a rank waiting on a collective fails because another died), then the lowest."""
    bad = [f for f in figures if f["exit_code"] != 0 or f["status"] != Status.OK.value]
    return min(bad, key=lambda f: (f["wrote_record"], f["rank"])) if bad else None


def across_ranks(job: Job, main: dict[str, Any] | None, attempt: Attempt, codes: list[int | None],
                 started: str) -> dict[str, Any]:
    """The job's record from its ranks' (`main`: rank 0's; None where it wrote none) and their exit codes:
    rank 0's with every rank's figures, or, where a rank failed, that rank's status and error (and no
    adapter: it may be half-saved)."""
    records = [main] + [read_record(attempt.rank_record(k), attempt.id) for k in range(1, len(codes))]
    figures = [_figures(k, rec, code) for k, (rec, code) in enumerate(zip(records, codes))]
    culprit = _culprit(figures)
    if main is not None and main.get("status") == Status.DIVERGED.value:
        culprit = None  # every rank reads the same summed loss, and stops at the same step
    if culprit is not None:
        k = culprit["rank"]
        error = culprit.get("error") or how_it_ended(culprit["exit_code"], attempt.rank_log(k))
        status = Status(culprit["status"]) if culprit["wrote_record"] else Status.FAILED
        reason = f"rank {k} of {len(codes)}: {error}"
        main = ({**main, "status": status.value, "error": reason} if main is not None
                else failure_record(job, attempt, status, reason, started_at=started).to_dict())
        shutil.rmtree(attempt.adapter, ignore_errors=True)
    assert main is not None  # a job whose ranks all ended well has rank 0's record
    main.setdefault("distributed", {}).update(world_size=len(codes), ranks=figures,
                                              failed_rank=None if culprit is None else culprit["rank"])
    return main


def rank_figure(record: dict[str, Any], rank: int, key: str) -> float | None:
    """One rank's figure from the job's record (rank 0's own sections where the job had one process)."""
    ranks = (record.get("distributed") or {}).get("ranks")
    if not ranks:
        return (record.get("memory") or {}).get(key) if rank == 0 else None
    return ranks[rank].get(key) if rank < len(ranks) else None


def _total(values: list[float | None]) -> float | None:
    return sum(values) if values and all(v is not None for v in values) else None  # type: ignore[misc]


def add_rank_measurements(record: dict[str, Any], measured: list[tuple[Any, dict[str, Any], dict[str, Any]]]) -> None:
    """Each rank's outside measurements (host memory, GPU section, energy section) into its figures, their
    largest and sum beside them, and the job's energy summed over its GPUs."""
    section = record.setdefault("distributed", {})
    ranks = section.setdefault("ranks", [{"rank": k} for k in range(len(measured))])
    for figures, (host, gpu, energy) in zip(ranks, measured):
        figures.update(host_tree_peak_rss_mib=host.peak_tree_rss_mib, gpu_peak_mib=gpu.get("peak_job_mib"),
                       gpu_uuid=(gpu.get("device") or {}).get("uuid"), energy_j=energy.get("energy_j"))
    for key in ("gpu_peak_mib", "torch_peak_reserved_mib", "host_tree_peak_rss_mib", "energy_j"):
        values = [f.get(key) for f in ranks]
        known = [v for v in values if v is not None]
        section[f"{key}_max"] = max(known) if known else None
        section[f"{key}_sum"] = _total(values)
    energy = record.get("energy") or {}
    if energy.get("energy_j") is not None:
        record["energy"] = {**energy, "energy_j": section["energy_j_sum"], "scope": f"the job's {len(ranks)} GPUs",
                            "reason": None if section["energy_j_sum"] is not None else "a rank's GPU had no energy figure"}
    # What the job needs: the fullest GPU's peak (each GPU must hold it), and on one host its processes' sum.
    memory, gpu = record.setdefault("memory", {}), record.setdefault("gpu", {})
    memory["host_tree_peak_rss_mib"] = section["host_tree_peak_rss_mib_sum"]
    memory["host_peak_rss_mib"] = _total([f.get("host_peak_rss_mib") for f in ranks]) or memory.get("host_peak_rss_mib")
    if section["torch_peak_reserved_mib_max"] is not None:
        memory["torch_peak_reserved_mib"] = section["torch_peak_reserved_mib_max"]
    if section["gpu_peak_mib_max"] is not None:
        gpu["peak_job_mib"] = section["gpu_peak_mib_max"]
