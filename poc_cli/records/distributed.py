"""The record's section of a job across processes (issue 44): how it ran, and each rank's figures."""

from __future__ import annotations

from poc_cli.records.sections import Num, Section


class RankFigures(Section):
    """One rank: how it ended, where it ran, and its memory (torch's, the host's, NVML's per-process)."""

    rank: int
    status: str | None = None
    exit_code: int | None = None
    wrote_record: bool = True
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    device: str | None = None
    torch_peak_allocated_mib: Num | None = None
    torch_peak_reserved_mib: Num | None = None
    host_peak_rss_mib: Num | None = None
    host_tree_peak_rss_mib: Num | None = None
    gpu_peak_mib: Num | None = None
    gpu_uuid: str | None = None
    energy_j: Num | None = None


class Distributed(Section):
    """A job across `world_size` processes (one per GPU): FSDP2 over `backend`, and its ranks; `failed_rank`
    names the rank whose failure ended it. The `_max` and `_sum` figures are over the ranks."""

    world_size: int
    backend: str | None = None
    strategy: str | None = None
    launcher: str | None = None
    blocks_sharded: int | None = None
    failed_rank: int | None = None
    ranks: list[RankFigures] = []
    gpu_peak_mib_max: Num | None = None
    gpu_peak_mib_sum: Num | None = None
    torch_peak_reserved_mib_max: Num | None = None
    torch_peak_reserved_mib_sum: Num | None = None
    host_tree_peak_rss_mib_max: Num | None = None
    host_tree_peak_rss_mib_sum: Num | None = None
    energy_j_max: Num | None = None
    energy_j_sum: Num | None = None
