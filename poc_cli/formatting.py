"""Text formatting shared by the two presentation layers: the CLI tables and the report."""

from __future__ import annotations

from typing import Any

from poc_cli.methods import get_method
from poc_cli.stats import Summary


def settings_text(settings: dict[str, Any]) -> str:
    """A method's resolved settings as `k=v, ...`, leaving out switches that are off (r always shown)."""
    shown = {k: v for k, v in settings.items() if v not in (False, 0.0) or k == "r"}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()) or "-"


def summary_text(summary: Summary | None, *, scale: float = 100.0, digits: int = 1) -> str:
    """`mean ± std (n=N)`, scaled (fractions to % by default); "-" when there is nothing."""
    if summary is None:
        return "-"
    std = f" ± {summary.std * scale:.{digits}f}" if summary.std is not None else ""
    return f"{summary.mean * scale:.{digits}f}{std} (n={summary.n})"


def metric_text(summary: Summary | None, unit: str) -> str:
    """A metric's `mean ± std (n=N)` in its unit: fractions in %, anything else (nats ...) as it is."""
    return summary_text(summary) if unit == "fraction" else summary_text(summary, scale=1.0, digits=3)


def metric_header(name: str, unit: str) -> str:
    """A metric's column heading with its unit."""
    return f"{name} %" if unit == "fraction" else f"{name} ({unit})" if unit else name


def config_text(kind: str, settings: dict[str, Any], lr: float | None, *, all_parameters: str,
                nothing_trained: str) -> str:
    """A method's configuration: learning rate first, then its settings, or what a method without
    settings trains (full fine-tuning: everything; the zero-shot reference: nothing)."""
    rate = f"lr={lr:g}" if lr is not None else ""
    method = get_method(kind)
    if not method.TRAINS and settings:  # a reference that is a model of its own (statsforecast AutoETS)
        return ", ".join(str(v) for v in settings.values())
    rest = nothing_trained if not method.TRAINS else all_parameters if not method.FITTED else settings_text(settings)
    return ", ".join(filter(None, [rate, rest]))
