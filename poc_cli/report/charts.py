"""Charts as inline SVG strings: no scripts, no external files, printable.

Every text drawn (method names come from the user's recipe) is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = {"lora": "#1f77b4", "randlora": "#d62728", "full": "#2ca02c"}
WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48


@dataclass(frozen=True)
class Point:
    """A method's mean with its spread (std over seeds, may be None)."""

    label: str
    kind: str
    x: float
    y: float
    y_err: float | None = None


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    step = (high - low) / 4 or 1.0
    return [low + i * step for i in range(5)]


def _frame(x_label: str, y_label: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]]) -> list[str]:
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
             'fill="none" stroke="#999"/>']
    for px, text in x_ticks:
        parts.append(f'<line x1="{px:.1f}" y1="{HEIGHT - BOTTOM}" x2="{px:.1f}" y2="{HEIGHT - BOTTOM + 4}" stroke="#999"/>'
                     f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(text)}</text>')
    for py, text in y_ticks:
        parts.append(f'<line x1="{LEFT - 4}" y1="{py:.1f}" x2="{LEFT}" y2="{py:.1f}" stroke="#999"/>'
                     f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(14,{(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    return parts


def _legend(n: int, label: str, colour: str) -> str:
    """The n-th legend entry, top right."""
    return (f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 14 + 14 * n}" text-anchor="end" fill="{colour}">'
            f'{escape(label)}</text>')


def _svg(parts: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'class="chart" font-size="11" font-family="sans-serif"><title>{escape(title)}</title>'
            + "".join(parts) + "</svg>")


def scatter(points: Sequence[Point], *, title: str, x_label: str, y_label: str, log_x: bool = False) -> str:
    """Each method as a dot with its label and a vertical bar of +- one std."""
    if not points:
        return ""
    xs = [p.x for p in points]
    ys = [p.y for p in points] + [p.y + (p.y_err or 0) for p in points] + [p.y - (p.y_err or 0) for p in points]
    x_lo, x_hi = min(xs), max(xs)
    if log_x:
        x_lo, x_hi = 10 ** math.floor(math.log10(x_lo)), 10 ** math.ceil(math.log10(x_hi))
    else:
        pad = (x_hi - x_lo) * 0.1 or abs(x_hi) * 0.1 or 1.0
        x_lo, x_hi = max(0.0, x_lo - pad), x_hi + pad
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.15 or 1.0
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def px(x: float) -> float:
        if log_x:
            frac = (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))
        else:
            frac = (x - x_lo) / (x_hi - x_lo)
        return LEFT + frac * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (HEIGHT - TOP - BOTTOM)

    parts = _frame(x_label, y_label, [(px(t), _fmt(t)) for t in _ticks(x_lo, x_hi, log_x)],
                   [(py(t), f"{t:.1f}") for t in _ticks(y_lo, y_hi, False)])
    for p in points:
        colour = COLOURS.get(p.kind, "#555")
        if p.y_err:
            parts.append(f'<line x1="{px(p.x):.1f}" y1="{py(p.y - p.y_err):.1f}" x2="{px(p.x):.1f}" '
                         f'y2="{py(p.y + p.y_err):.1f}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<circle cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" r="5" fill="{colour}"/>'
                     f'<text x="{px(p.x) + 8:.1f}" y="{py(p.y) - 6:.1f}" fill="{colour}">{escape(p.label)}</text>')
    return _svg(parts, title)


def lines(series: Sequence[tuple[str, str, list[float]]], *, title: str, x_label: str, y_label: str) -> str:
    """Training-loss curves: (label, kind, values per step)."""
    series = [s for s in series if s[2]]
    if not series:
        return ""
    steps = max(len(values) for _, _, values in series)
    y_lo = min(min(v) for _, _, v in series)
    y_hi = max(max(v) for _, _, v in series)
    y_hi = y_hi if y_hi > y_lo else y_lo + 1.0

    def px(i: float) -> float:
        return LEFT + i / max(steps - 1, 1) * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (HEIGHT - TOP - BOTTOM)

    parts = _frame(x_label, y_label, [(px(t), f"{t:.0f}") for t in _ticks(0, steps - 1, False)],
                   [(py(t), f"{t:.2f}") for t in _ticks(y_lo, y_hi, False)])
    for n, (label, kind, values) in enumerate(series):
        colour = COLOURS.get(kind, "#555")
        path = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(_legend(n, label, colour))
    return _svg(parts, title)


@dataclass(frozen=True)
class Curve:
    """A method's score at each x (y None: the setting diverged); `chosen` is ringed."""

    label: str
    kind: str
    points: list[tuple[float, float | None]]
    chosen: float | None = None


def curves(series: Sequence[Curve], *, title: str, x_label: str, y_label: str) -> str:
    """Score against a log-scale x (learning rate), one line per curve. A diverged setting is a cross
    on the bottom axis, so a failed setting stays visible; the chosen setting is ringed."""
    series = [c for c in series if c.points]
    xs = [x for c in series for x, _ in c.points]
    ys = [y for c in series for _, y in c.points if y is not None]
    if not xs or not ys:
        return ""
    x_lo, x_hi = 10 ** math.floor(math.log10(min(xs))), 10 ** math.ceil(math.log10(max(xs)))
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.1 or 1.0
    y_lo, y_hi = max(0.0, y_lo - pad), y_hi + pad

    def px(x: float) -> float:
        frac = (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))
        return LEFT + frac * (WIDTH - LEFT - RIGHT)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (HEIGHT - TOP - BOTTOM)

    parts = _frame(x_label, y_label, [(px(t), f"{t:g}") for t in _ticks(x_lo, x_hi, True)],
                   [(py(t), f"{t:.1f}") for t in _ticks(y_lo, y_hi, False)])
    for n, curve in enumerate(series):
        colour = COLOURS.get(curve.kind, "#555")
        dash = ' stroke-dasharray="5,3"' if n % 2 else ""
        scored = [(x, y) for x, y in curve.points if y is not None]
        if len(scored) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in scored)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        for x, y in curve.points:
            if y is not None and x == curve.chosen:
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="7" fill="none" stroke="{colour}" '
                             'stroke-width="2"/>')
            if y is None:
                cx, cy = px(x), HEIGHT - BOTTOM - 6
                parts.append(f'<path d="M{cx - 4:.1f},{cy - 4:.1f}L{cx + 4:.1f},{cy + 4:.1f}M{cx - 4:.1f},'
                             f'{cy + 4:.1f}L{cx + 4:.1f},{cy - 4:.1f}" stroke="{colour}" stroke-width="2"/>')
            else:
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        parts.append(_legend(n, curve.label, colour))
    return _svg(parts, title)
