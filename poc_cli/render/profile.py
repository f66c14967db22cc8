"""What `poc profile` prints: each method at each batch size."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from poc_cli.safe_text import esc, plain


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def profile_table(found: dict[str, Any]) -> Table:
    """One row per method, basis variant and batch size, with the largest batch that fits."""
    from poc_cli.profile_results import largest_fitting

    limit = found.get("memory_limit_mib")
    capacity = found.get("capacity_mib")
    within = (f"report.memory_limit_mib ({limit:,.0f} MiB)" if limit is not None
              else f"the device's {capacity:,.0f} MiB" if capacity else "the device")
    table = Table(title=f"Load profile: {found['device']} at {found['precision']}, {found['steps']} timed steps "
                        f"per batch size after {found['warmup_steps']} warm-up", title_justify="left",
                  caption=plain(f"peak: {found['memory_scope']}; one batch per step (no accumulation); "
                                f"*: the largest measured batch within {within}"), caption_justify="left")
    for column in ("method", "bases", "batch", "s/step", "ex/s", "tokens/s", "peak MiB", "status"):
        table.add_column(column, justify="left" if column in {"method", "bases", "status"} else "right")
    fitting = largest_fitting(found, limit)
    for p in found["points"]:
        bases = "-" if p["bases"] is None else p["bases"] + ("" if p["in_recipe"] else " (v)")
        status = p["status"] if p["status"] == "ok" else f"[red]{esc(p['status'])}[/]"
        if p["status"] == "ok" and fitting[(p["label"], p["bases"])] == p["batch_size"]:
            status += " *"
        table.add_row(plain(p["label"]), plain(bases), str(p["batch_size"]), _fmt(p["step_s"], ".3g"),
                      _fmt(p["examples_per_s"], ",.1f"), _fmt(p["tokens_per_s"], ",.0f"),
                      _fmt(p["peak_memory_mib"], ",.0f"), status)
    return table
