"""Charts drawn by matplotlib as inline SVG, text kept as text (the browser renders Japanese and
the reader can select it), sized for half an A4 column so that text prints at about 9 pt.

Honest by construction: a score axis starts at zero or at the trivial reference (rounded down
to a tick), never zoomed to the spread of the methods; every score carries its 95% interval;
a difference that is not significant, or a method that did not learn, says so on the chart.
Every text drawn comes from the report (user names included); matplotlib escapes it in SVG.
"""

from __future__ import annotations

import io
import math
import re
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import matplotlib

matplotlib.use("Agg")  # no display; must precede any figure

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from poc_cli.methods import METHODS  # noqa: E402
from poc_cli.report.fonts import cjk_family  # noqa: E402

REFERENCE_COLOUR = "#7f7f7f"  # the trivial answer's line
# A method without a COLOUR of its own (methods/*.py: LoRA, RandLoRA and full fine-tuning have one) takes one
# of these by a hash of its kind: the same method has the same colour in every chart and report.
PALETTE = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e", "#393b79", "#637939", "#8c6d31")
FAILED_COLOUR = "#9e9e9e"
SIZE_IN = (3.5, 2.6)  # about 89 x 66 mm: one of two columns on A4


def _families() -> list[str]:
    """DejaVu Sans, then the first Japanese font installed (matplotlib measures text with it)."""
    cjk = cjk_family()
    return ["DejaVu Sans", *([cjk] if cjk else []), "sans-serif"]


STYLE = {"svg.fonttype": "none", "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
         "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8}


@dataclass(frozen=True)
class Estimate:
    """A method's score (in display units) with its 95% interval, placed at x (None on a category axis)."""

    label: str
    kind: str
    value: float
    low: float | None
    high: float | None
    x: float | None = None
    note: str | None = None  # shown under the label ("no significant difference", "did not learn")
    failed: bool = False  # did not learn: drawn hollow and grey


@dataclass(frozen=True)
class Reference:
    """A horizontal line: the trivial answer's score."""

    label: str
    value: float


def _svg(fig: Figure, title: str) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():  # without a Japanese font: the text stays text, drawn by the reader's fonts
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and DOCTYPE: the SVG is inlined in HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)  # RDF naming external vocabularies
    svg = re.sub(r'xmlns:xlink="[^"]*"\s*', "", svg, count=1) if "xlink:" not in svg.split(">", 1)[1] else svg
    head, rest = svg.split(">", 1)
    head = head.replace("<svg ", '<svg class="chart" role="img" ', 1)
    return f"{head}><title>{escape(title)}</title>{rest}"


def _figure(size: tuple[float, float] = SIZE_IN) -> Figure:
    return Figure(figsize=size, layout="constrained")


def _score_limits(values: Sequence[float], reference: Reference | None, higher_is_better: bool,
                  percent: bool) -> tuple[list[float], float, float]:
    """(ticks, start, end) of a score axis: round ticks from zero; the axis starts at the tick at or
    below the reference when every value lies above it (a higher-is-better score), else at zero.
    Never closer than that."""
    top = _top([*values, *([reference.value] if reference else [])], percent)
    ticks = [float(t) for t in MaxNLocator(nbins=6).tick_values(0.0, top) if t >= 0]
    floor = 0.0
    if higher_is_better and reference is not None and reference.value > 0 and min(values) >= reference.value:
        floor = max((t for t in ticks if t <= reference.value), default=0.0)
    return [t for t in ticks if floor <= t <= top], floor, top


def _score_axis(ax: object, values: Sequence[float], reference: Reference | None, higher_is_better: bool,
                percent: bool) -> None:
    ticks, floor, top = _score_limits(values, reference, higher_is_better, percent)
    ax.set_yticks(ticks)
    ax.set_ylim(floor, top)


def _error(e: Estimate) -> list[list[float]]:
    low = e.value - e.low if e.low is not None else 0.0
    high = e.high - e.value if e.high is not None else 0.0
    return [[max(0.0, low)], [max(0.0, high)]]


def colour(kind: str) -> str:
    """The method's colour: its module's COLOUR, else one from PALETTE (the trivial answer: grey)."""
    if kind == "trivial":
        return REFERENCE_COLOUR
    return getattr(METHODS.get(kind), "COLOUR", None) or PALETTE[zlib.crc32(kind.encode()) % len(PALETTE)]


def _draw(ax: object, e: Estimate, x: float, label: str | None = None) -> None:
    colour_ = FAILED_COLOUR if e.failed else colour(e.kind)
    ax.errorbar([x], [e.value], yerr=_error(e), fmt="o", color=colour_, ecolor=colour_, capsize=4, markersize=6,
                markerfacecolor="white" if e.failed else colour_, elinewidth=1.5, label=label)


def _top(values: Sequence[float], unit_percent: bool) -> float:
    top = max(values) if values else 1.0
    top = top + 0.08 * (top or 1.0)
    return min(100.0, top) if unit_percent and max(values, default=0) <= 100 else top


def _reference_line(ax: object, reference: Reference | None) -> None:
    if reference is not None:
        ax.axhline(reference.value, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=reference.label)


def scores(estimates: Sequence[Estimate], *, title: str, x_label: str, reference: Reference | None,
           higher_is_better: bool = True, percent: bool = True) -> str:
    """Each method's score with its interval, one row per method (names never collide), the first on
    top; the reference as a dashed line. The score runs along the x axis; the chart spans the page."""
    if not estimates:
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure((2 * SIZE_IN[0], 0.9 + 0.45 * len(estimates)))
        ax = fig.add_subplot()
        for n, e in enumerate(estimates):
            colour_ = FAILED_COLOUR if e.failed else colour(e.kind)
            error = _error(e)
            ax.errorbar([e.value], [n], xerr=error, fmt="o", color=colour_, ecolor=colour_, capsize=4, markersize=6,
                        markerfacecolor="white" if e.failed else colour_, elinewidth=1.5)
        ax.set_yticks(range(len(estimates)), [e.label + (f"\n{e.note}" if e.note else "") for e in estimates])
        ax.set_ylim(len(estimates) - 0.5, -0.7 if reference else -0.5)
        values = [v for e in estimates for v in (e.value, e.low, e.high) if v is not None]
        ticks, floor, top = _score_limits(values, reference, higher_is_better, percent)
        ax.set_xticks(ticks)
        ax.set_xlim(floor, top)
        ax.set_xlabel(x_label)
        ax.grid(axis="x", linewidth=0.4, alpha=0.6)
        if reference is not None:
            ax.axvline(reference.value, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=reference.label)
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, 1.0))
        return _svg(fig, title)


def scatter(estimates: Sequence[Estimate], *, title: str, x_label: str, y_label: str, reference: Reference | None,
            log_x: bool = False, higher_is_better: bool = True, percent: bool = True) -> str:
    """Score (with its interval) against a resource (parameters, cost ...), each point labelled."""
    placed = [e for e in estimates if e.x is not None and (e.x > 0 or not log_x)]
    if not placed:
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        for e in placed:
            _draw(ax, e, e.x, label=e.label + (f" – {e.note}" if e.note else ""))
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 100k, 1M: no superscripts in small print
            ax.xaxis.set_minor_formatter(NullFormatter())
            xs = [e.x for e in placed]
            ax.set_xlim(10 ** math.floor(math.log10(min(xs))), 10 ** (math.log10(max(xs)) + 0.3))
        else:
            ax.set_xlim(0, max(e.x for e in placed) * 1.15 or 1.0)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        return _finish(fig, ax, placed, title=title, x_label=x_label, y_label=y_label, reference=reference,
                       higher_is_better=higher_is_better, percent=percent)


def _finish(fig: Figure, ax: object, placed: Sequence[Estimate], *, title: str, x_label: str, y_label: str,
            reference: Reference | None, higher_is_better: bool, percent: bool) -> str:
    """A score-against-resource chart's score axis (the honest start), labels, grid, reference and legend."""
    values = [v for e in placed for v in (e.value, e.low, e.high) if v is not None]
    _score_axis(ax, values, reference, higher_is_better, percent)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(linewidth=0.4, alpha=0.6)
    _reference_line(ax, reference)
    ax.legend(loc="lower right")
    return _svg(fig, title)


def front(estimates: Sequence[Estimate], on_front: Sequence[bool], *, title: str, x_label: str, y_label: str,
          front_label: str, reference: Reference | None, higher_is_better: bool = True, percent: bool = True) -> str:
    """Score (with its interval) against a cost, each point marked with its label (its rank in the
    ranking table: short, so close points stay legible), and the Pareto front (the points no other
    beats at lower cost) joined by a dotted staircase. The cost axis spans the points; the score
    axis keeps the honest start (zero or the trivial reference)."""
    placed = [(e, f) for e, f in zip(estimates, on_front) if e.x is not None]
    if len(placed) < 2:
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        for e, _ in placed:
            _draw(ax, e, e.x)  # type: ignore[arg-type]
            ax.annotate(e.label, (e.x, e.value), xytext=(4, 4), textcoords="offset points", fontsize=7.5)
        best = sorted(((e.x, e.value) for e, f in placed if f), key=lambda p: p[0])
        xs_all = [e.x for e, _ in placed]
        low, high = min(xs_all), max(xs_all)  # type: ignore[type-var]
        pad = 0.15 * (high - low or high or 1.0)  # type: ignore[operator]
        if best:
            xs, ys = zip(*best)
            ax.step([*xs, high + pad], [*ys, ys[-1]], where="post", linestyle=":", linewidth=1.2, color="#444444",
                    label=front_label)
        ax.set_xlim(max(0.0, low - pad), high + pad)  # type: ignore[operator]
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        return _finish(fig, ax, [e for e, _ in placed], title=title, x_label=x_label, y_label=y_label,
                       reference=reference, higher_is_better=higher_is_better, percent=percent)


def lines(series: Sequence[tuple[str, str, list[float]]], *, title: str, x_label: str, y_label: str) -> str:
    """Training-loss curves: (label, kind, loss per step)."""
    series = [s for s in series if s[2]]
    if not series:
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        for label, kind, values in series:
            ax.plot(range(1, len(values) + 1), values, label=label, color=colour(kind),
                    linewidth=1.2)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.grid(linewidth=0.4, alpha=0.6)
        ax.legend(loc="upper right")
        return _svg(fig, title)


def roc(curves: Sequence[tuple[str, str, list[float], list[float]]], marks: Sequence[tuple[str, float, float]], *,
        title: str, x_label: str, y_label: str) -> str:
    """Detection against false alarms: (label, kind, false-alarm rates, detection rates) per method, and
    (kind, false alarm, detection) of each method's operating point, ringed in its colour."""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=REFERENCE_COLOUR, linewidth=0.6, linestyle=":")
        for label, kind, false_alarm, detection in curves:
            ax.step(false_alarm, detection, where="post", label=label, color=colour(kind), linewidth=1.2)
        for kind, false_alarm, detection in marks:
            ax.plot([false_alarm], [detection], marker="o", markersize=7, markerfacecolor="none",
                    markeredgecolor=colour(kind), markeredgewidth=1.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(linewidth=0.4, alpha=0.6)
        ax.legend(loc="lower right")
        return _svg(fig, title)


@dataclass(frozen=True)
class Curve:
    """A method's validation score at each learning rate (None: that setting diverged); `chosen` is ringed."""

    label: str
    kind: str
    points: list[tuple[float, float | None]]
    chosen: float | None = None


def curves(series: Sequence[Curve], *, title: str, x_label: str, y_label: str) -> str:
    """Validation score against learning rate (log scale), one line per curve; a diverged setting
    is a cross on the bottom axis, the chosen one is ringed. The score axis starts at zero."""
    series = [c for c in series if c.points]
    if not series or not any(y is not None for c in series for _, y in c.points):
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        top = max(y for c in series for _, y in c.points if y is not None)
        for n, curve in enumerate(series):
            shade = colour(curve.kind)
            scored = [(x, y) for x, y in curve.points if y is not None]
            ax.plot([x for x, _ in scored], [y for _, y in scored], marker="o", markersize=3, color=shade,
                    linestyle="--" if n % 2 else "-", linewidth=1.2, label=curve.label)
            diverged = [x for x, y in curve.points if y is None]
            if diverged:
                ax.plot(diverged, [0.0] * len(diverged), "x", color=shade, markersize=7, clip_on=False)
            chosen = [(x, y) for x, y in scored if x == curve.chosen]
            if chosen:
                ax.plot(*zip(*chosen), "o", markersize=10, markerfacecolor="none", markeredgecolor=shade)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.0001, as the recipe writes it
        ax.xaxis.set_minor_formatter(NullFormatter())
        _score_axis(ax, [top], None, True, True)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(linewidth=0.4, alpha=0.6)
        ax.legend(loc="lower left")
        return _svg(fig, title)


@dataclass(frozen=True)
class BatchSeries:
    """One method's measurement at each batch size (None: not measured); `oom` the batch sizes that
    ran out of memory, drawn as crosses on the bottom axis."""

    label: str
    kind: str
    points: list[tuple[int, float | None]]
    oom: tuple[int, ...] = ()


def by_batch(series: Sequence[BatchSeries], *, title: str, x_label: str, y_label: str,
             limit: Reference | None = None) -> str:
    """A measurement (throughput, peak memory) against batch size (log 2 scale), one line per method
    and basis variant, from zero; `limit` as a dashed line (the memory a job may use)."""
    series = [s for s in series if any(y is not None for _, y in s.points)]
    if not series:
        return ""
    with matplotlib.rc_context({**STYLE, "font.family": _families()}):
        fig = _figure()
        ax = fig.add_subplot()
        styles = ("-", "--", ":", "-.")
        seen: dict[str, int] = {}
        for s in series:
            shade = colour(s.kind)
            style = styles[seen.get(s.kind, 0) % len(styles)]
            seen[s.kind] = seen.get(s.kind, 0) + 1
            measured = [(x, y) for x, y in s.points if y is not None]
            ax.plot([x for x, _ in measured], [y for _, y in measured], marker="o", markersize=3, color=shade,
                    linestyle=style, linewidth=1.2, label=s.label)
            if s.oom:
                ax.plot(list(s.oom), [0.0] * len(s.oom), "x", color=shade, markersize=7, clip_on=False)
        _reference_line(ax, limit)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(sorted({x for s in series for x, _ in s.points}))
        top = max([y for s in series for _, y in s.points if y is not None] + ([limit.value] if limit else []))
        ax.set_ylim(0, 1.25 * top or 1.0)  # headroom: a flat line stays visible, below the legend
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(linewidth=0.4, alpha=0.6)
        ax.legend(loc="best")
        return _svg(fig, title)
