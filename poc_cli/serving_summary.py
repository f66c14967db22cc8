"""One method's serving figures over its seeded runs, as `poc compare` and the report show them.

Speeds and memory are means over the runs that measured them; the merge verdict is the worst any run
got (one inexact run makes the method's merge inexact), its difference the largest; the conversion to
LoRA is the first run's rank and size with the mean score difference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from statistics import mean

from poc_cli.records.record import StoredRecord
from poc_cli.records.serving import Serving

WORST_FIRST = ("cannot merge", "inexact", "exact", "nothing to merge")


@dataclass(frozen=True)
class ServingSummary:
    """What serving a method's model costs, from the `serving` sections of its runs."""

    runs: int
    device: str
    merge: str  # exact, inexact, cannot merge, nothing to merge
    merge_difference: float | None  # the largest relative output difference, merged against unmerged
    merge_tolerance: float | None
    answers_changed: int | None  # over the runs' checked test batches
    answers_compared: int | None
    merge_reason: str | None
    latency_merged_ms: float | None
    latency_unmerged_ms: float | None
    throughput_merged_per_s: float | None
    throughput_unmerged_per_s: float | None
    weights_mib: float
    adapter_mib: float | None
    adapter_bytes: int | None
    adapter_bytes_with_bases: int | None
    default_saves_bases: bool | None
    lora: str | None  # is LoRA, converted, cannot convert, not measured; None: no adapter
    lora_rank: int | None
    lora_bytes: int | None
    lora_metric: str | None
    lora_difference: float | None  # converted minus original, the metric's own units, mean over runs
    lora_reason: str | None

    @property
    def merges(self) -> bool:
        """Whether the adapter can be served merged into its base."""
        return self.merge in {"exact", "inexact"}


def _mean(values: list[float | None]) -> float | None:
    held = [v for v in values if v is not None]
    return mean(held) if held else None


def _sum(values: list[int | None]) -> int | None:
    held = [v for v in values if v is not None]
    return sum(held) if held else None


def summarise(runs: list[StoredRecord]) -> ServingSummary | None:
    """The summary of the runs that measured serving; None where none did (older records, classical rows)."""
    measured: list[Serving] = [r.serving for r in runs if r.serving is not None]
    if not measured:
        return None
    first = measured[0]
    merge = min((s.merge for s in measured), key=lambda m: WORST_FIRST.index(m.status))
    lora = first.lora
    return ServingSummary(
        runs=len(measured), device=first.device, merge=merge.status,
        merge_difference=max((s.merge.max_relative_difference for s in measured
                              if s.merge.max_relative_difference is not None), default=None),
        merge_tolerance=first.merge.tolerance,
        answers_changed=_sum([s.merge.answers_changed for s in measured]),
        answers_compared=_sum([s.merge.answers_compared for s in measured]),
        merge_reason=merge.reason,
        latency_merged_ms=_mean([s.merged.latency_ms if s.merged else None for s in measured]),
        latency_unmerged_ms=_mean([s.unmerged.latency_ms if s.unmerged else None for s in measured]),
        throughput_merged_per_s=_mean([s.merged.throughput_per_s if s.merged else None for s in measured]),
        throughput_unmerged_per_s=_mean([s.unmerged.throughput_per_s if s.unmerged else None for s in measured]),
        weights_mib=mean(s.weights_mib for s in measured),
        adapter_mib=_mean([s.adapter_mib for s in measured]),
        adapter_bytes=first.adapter_bytes, adapter_bytes_with_bases=first.adapter_bytes_with_bases,
        default_saves_bases=first.default_saves_bases,
        lora=lora.status if lora else None, lora_rank=lora.rank if lora else None,
        lora_bytes=lora.bytes if lora else None, lora_metric=lora.metric if lora else None,
        lora_difference=_mean([s.lora.difference if s.lora else None for s in measured]),
        lora_reason=lora.reason if lora else None,
    )


def serving_columns(summary: ServingSummary | None) -> dict[str, Any]:
    """The summary as `serving_<field>` CSV columns, empty where the runs measured no serving."""
    return {f"serving_{f.name}": getattr(summary, f.name) if summary else None for f in fields(ServingSummary)}
