"""`poc run`'s progress: one line per running job, with where it runs, its phase, step and loss;
the line goes when the job ends. Real jobs of a real plan, events as executors send them, the
progress rendered as the terminal would show it."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from poc_cli.commands.run import _job_progress
from poc_cli.launcher import Outcome
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.records.status import Status


def shown(progress: Progress) -> list[str]:
    """The progress's lines as rendered, without trailing blanks."""
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(progress.get_renderable())
    return [line.rstrip() for line in console.file.getvalue().splitlines() if line.strip()]  # type: ignore[attr-defined]


def test_each_running_job_has_its_own_line_naming_where_it_runs(tiny_recipe: Path) -> None:
    lora, randlora, _ = make_plan(load_recipe(tiny_recipe)).run_jobs({})
    progress = Progress(console=Console(file=io.StringIO()))
    on_event, ended = _job_progress(progress)
    on_event(lora, {"event": "start", "where": "gpu 0"})
    on_event(randlora, {"event": "start", "where": "node 10.0.0.7 gpu 3"})
    on_event(lora, {"event": "phase", "phase": "train"})
    on_event(lora, {"event": "step", "step": 5, "total": 20, "loss": 0.6931})
    lines = shown(progress)
    assert len(lines) == 2
    assert lines[0].startswith("lora seed 0 [gpu 0]: train") and "25%" in lines[0]
    assert lines[1].startswith("randlora seed 0 [node 10.0.0.7 gpu 3]")

    ended(Outcome(job=lora, status=Status.OK, skipped=False))
    assert [line.split(" ━")[0].strip() for line in shown(progress)] == ["randlora seed 0 [node 10.0.0.7 gpu 3]"]


def test_markup_in_where_a_job_runs_stays_text(tiny_recipe: Path) -> None:
    job = make_plan(load_recipe(tiny_recipe)).run_jobs({})[0]
    progress = Progress(console=Console(file=io.StringIO()))
    on_event, _ = _job_progress(progress)
    on_event(job, {"event": "start", "where": "[bold red]node[/]"})
    assert shown(progress)[0].startswith("lora seed 0 [[bold red]node[/]]")
