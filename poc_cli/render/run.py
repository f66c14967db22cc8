"""What `poc run` prints when it ends: each job outcome, and each search trial."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from poc_cli.records.status import Stage, Status
from poc_cli.render.plan import NARROW
from poc_cli.render.words import WholeWords, whole_words
from poc_cli.safe_text import plain
from poc_cli.store import Store

if TYPE_CHECKING:
    from poc_cli.launcher import Outcome, RunResult
    from poc_cli.plan import Job, Plan
    from poc_cli.search import Point


def outcome_table(outcomes: list[Outcome], store: Store, metrics: list[str], width: int) -> WholeWords:
    """Each seeded run as it ended: its test metrics from its stored record (the primary one alone on a terminal
    under NARROW columns: `poc compare` has them all), its time and what to know."""
    metrics = metrics if width >= NARROW else metrics[:1]
    table = Table(title="Results", title_justify="left")
    for column, number in (("method", False), ("seed", True), ("lr", True), ("status", False),
                           *((m, True) for m in metrics), ("train\ntime", True), ("note", False)):
        table.add_column(column, justify="right" if number else "left", no_wrap=number)
    for o in outcomes:
        rec = store.read(o.job.recipe.name, o.job.id) or {}
        test = rec.get("metrics", {}).get("test", {})
        lr = o.job.method.learning_rate
        style = "green" if o.status is Status.OK else "red"
        note = "done before, skipped" if o.skipped else (o.error or "")
        if rec.get("warnings"):
            note = (note + "; " if note else "") + "; ".join(rec["warnings"])
        table.add_row(
            plain(o.job.allocation.label), str(o.job.seed), "-" if lr is None else f"{lr:g}",
            f"[{style}]{o.status.value}[/]",
            *[f"{test[m]:.3f}" if m in test else "-" for m in metrics],
            f"{rec['timing']['train_s']:.1f} s" if rec.get("timing", {}).get("train_s") else "-",
            plain(note),
        )
    return whole_words(table)


def job_name(job: Job) -> str:
    if job.stage is Stage.TRIAL:
        alpha = getattr(job.method, "alpha_ratio", None)
        alpha_text = f", alpha_ratio {alpha:g}" if alpha is not None else ""
        return f"{job.allocation.label} trial lr {job.method.learning_rate:g}{alpha_text}"
    return f"{job.allocation.label} seed {job.seed}"


def trials_table(result: RunResult, plan: Plan, store: Store) -> WholeWords:
    """Stage 1's outcome: every trial's score (each rung's, in a halving search), the chosen one marked."""
    from poc_cli.tasks import search_metric  # torch and transformers: only once a run has ended

    picked = {(i, c.point) for i, c in result.chosen.items()}
    metric = search_metric(plan.recipe)
    table = Table(title=f"Search trials: validation {metric}", title_justify="left")
    for column, number in (("method", False), ("lr", True), ("alpha\nratio", True), ("steps", True),
                           ("status", False), (f"validation\n{metric}", True), ("chosen", False), ("note", False)):
        table.add_column(column, justify="right" if number else "left", no_wrap=number)
    points = {(i, job.method.model_dump_json()): point for i, pts in plan.trials.items() for point, job in pts}
    for o in result.trials:
        rec = store.read(o.job.recipe.name, o.job.id, Stage.TRIAL) or {}
        score = rec.get("metrics", {}).get("validation", {}).get(metric)
        gridded = points.get((o.job.method_index, o.job.method.model_dump_json()))
        point = gridded or added_point(o.job, plan)
        notes = ["added beyond the grid" if gridded is None else "", "done before, skipped" if o.skipped else o.error]
        rung = o.job.rung
        final = rung is None or rung.final
        style = {Status.OK: "green", Status.DIVERGED: "yellow"}.get(o.status, "red")
        table.add_row(
            plain(o.job.allocation.label), f"{point.lr:g}", f"{point.alpha_ratio:g}" if point.alpha_ratio else "-",
            "all" if rung is None else f"{rung.stop_at}/{rung.total}",
            f"[{style}]{o.status.value}[/]", f"{score:.3f}" if score is not None else "-",
            "[bold]<- chosen[/]" if final and (o.job.method_index, point) in picked else "",
            plain("; ".join(note for note in notes if note)),
        )
    return whole_words(table)


def added_point(job: Job, plan: Plan) -> Point:
    """The grid point of a trial the search added beyond its grid's edge (`edges.py`)."""
    from poc_cli.search import Point

    searches_alpha = any(p.alpha_ratio is not None for p, _ in plan.trials[job.method_index])
    return Point(job.method.lr, getattr(job.method, "alpha_ratio", None) if searches_alpha else None)
