"""Successive halving: the rungs, their cost, and a survivor's trial equal to the grid's own."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import recipe_dict, write_recipe
from poc_cli.halving import cost, first_rung, stops, survivors

ENV = {**os.environ, "COLUMNS": "200"}
LRS = [3e-3, 1e-2, 3e-2, 1e-1]


def test_rungs_at_a_third_and_two_thirds() -> None:
    assert stops(24) == (8, 16, 24)
    assert stops(10) == (3, 7, 10)
    assert stops(2) == (1, 2)
    assert stops(1) == (1,) and first_rung(1) is None
    assert first_rung(24).stop_at == 8 and first_rung(24).total == 24


def test_the_best_third_goes_on_and_the_search_costs_at_most_half() -> None:
    assert [survivors(n) for n in (1, 2, 3, 4, 8, 16)] == [1, 1, 1, 1, 2, 5]
    assert cost(4, 24) == (6, 4 * 8 + 8 + 8)  # 4 points to step 8, one to 16, one to 24
    assert cost(8, 24) == (11, 8 * 8 + 2 * 8 + 8)
    for points, total in ((4, 24), (8, 24), (16, 300), (4, 171), (8, 171)):
        assert cost(points, total)[1] <= 0.5 * points * total


def _run(recipe: Path, store: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(recipe), "--store", str(store)],
                          capture_output=True, text=True, env=ENV, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _trials(store: Path, *, added: bool = False) -> list[dict]:
    """The grid's trials (every rung of them), or those the search added beyond the grid's edge."""
    every = [json.loads(p.read_text()) for p in sorted((store / "tiny" / "trials").glob("*.json"))]
    return [t for t in every if (t["job"]["method"]["lr"] not in LRS) == added]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path,
             tiny_data: dict[str, Path]) -> dict[str, Path]:
    """The same LoRA search (4 learning rates, dropout on, 24 steps) run as a grid and halving. The tiny model
    learns best at the grid's largest rate, so both searches add trials beyond it (search.edge_steps: 3)."""
    folder = tmp_path_factory.mktemp("halving")
    out = {}
    for strategy in ("grid", "halving"):
        recipe = write_recipe(folder / f"{strategy}.yaml", recipe_dict(
            tiny_model_dir, tiny_data, methods=[{"method": "lora", "dropout": 0.1, "search": {"lr": LRS}}],
            search={"strategy": strategy}, training={"steps": 24, "batch_size": 16, "max_length": 16}))
        out[strategy] = folder / strategy
        out[f"{strategy}-log"] = _run(recipe, out[strategy]).stdout
    return out


def test_a_survivor_trains_exactly_as_the_grid_trial_does(searched: dict[str, Path]) -> None:
    grid = {t["job"]["method"]["lr"]: t for t in _trials(searched["grid"])}
    halving = _trials(searched["halving"])
    assert len(grid) == 4 and all("rung" not in t["job"] for t in grid.values())
    final = [t for t in halving if t["job"]["rung"]["stop_at"] == 24]
    assert len(final) == 1  # 4 points: one goes on at each rung
    survivor = final[0]
    twin = grid[survivor["job"]["method"]["lr"]]
    # Three jobs (steps 1-8, 9-16, 17-24), each resumed from the last one's checkpoint: the same
    # losses (dropout on: the random state resumes too) and the same validation score as one job.
    assert survivor["loss_curve"] == twin["loss_curve"] and len(survivor["loss_curve"]) == 24
    assert survivor["metrics"]["validation"] == twin["metrics"]["validation"]
    assert survivor["throughput"]["rung"] == {"stop_at": 24, "of": 24, "resumed_from_step": 16}


def test_halving_rungs_cost_and_choice(searched: dict[str, Path]) -> None:
    """The grid's points climb the rungs; the choice is made among the full-length scores (those added beyond
    the grid's edge included: the test below)."""
    halving = _trials(searched["halving"])
    by_rung: dict[int, list[dict]] = {}
    for t in halving:
        by_rung.setdefault(t["job"]["rung"]["stop_at"], []).append(t)
    assert sorted((k, len(v)) for k, v in by_rung.items()) == [(8, 4), (16, 1), (24, 1)]
    # The one that went on was the best at step 8.
    best_at_8 = max(by_rung[8], key=lambda t: (t["metrics"]["validation"]["accuracy"], -t["job"]["method"]["lr"]))
    assert by_rung[16][0]["job"]["method"]["lr"] == best_at_8["job"]["method"]["lr"]
    trained = sum(t["throughput"]["rung"]["stop_at"] - t["throughput"]["rung"]["resumed_from_step"] for t in halving)
    assert trained == 4 * 8 + 8 + 8 == cost(4, 24)[1] <= 0.5 * 4 * 24
    # Checkpoints go once no rung needs them.
    assert not (searched["halving"] / "tiny" / "adapters").exists() or not any(
        (searched["halving"] / "tiny" / "adapters" / t["job_id"]).exists() for t in halving)
    run = next(json.loads(p.read_text()) for p in (searched["halving"] / "tiny").glob("*.json"))
    selection = run["selection"]
    assert selection["strategy"] == "halving" and selection["rungs"] == [8, 16, 24]
    chosen = selection["chosen"]["lr"]
    assert chosen == by_rung[24][0]["job"]["method"]["lr"] or chosen not in LRS  # the survivor, or one added
    statuses = sorted(row["status"] for row in selection["trials"] if not row.get("added"))
    assert statuses == ["ok", "pruned", "pruned", "pruned"]
    assert all(row["score"] is None for row in selection["trials"] if row["status"] == "pruned")
    assert "8/24" in searched["halving-log"] and "24/24" in searched["halving-log"]


def test_a_rerun_runs_nothing_again(searched: dict[str, Path], tmp_path: Path) -> None:
    recipe = searched["halving"].parent / "halving.yaml"
    before = sorted(p.name for p in (searched["halving"] / "tiny" / "trials").glob("*.json"))
    out = _run(recipe, searched["halving"]).stdout
    added = len(_trials(searched["halving"], added=True))
    assert out.count("done before, skipped") == 6 + added + 1  # every rung of every point, those added, the run
    assert sorted(p.name for p in (searched["halving"] / "tiny" / "trials").glob("*.json")) == before


def test_the_report_shows_pruned_points(searched: dict[str, Path], tmp_path: Path) -> None:
    page = tmp_path / "r.md"
    done = subprocess.run([sys.executable, "-m", "poc_cli", "report", "--store", str(searched["halving"]),
                           "--format", "md", "--output", str(page)], capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count("stopped at step 8 of 24 (halving)") == 3 and "at step 8" in text


@pytest.mark.parametrize("strategy", ["grid", "halving"])
def test_trials_beyond_the_grid_edge_in_a_real_run(searched: dict[str, Path], strategy: str, tmp_path: Path) -> None:
    """Whatever the scores were: each added trial is one step of the grid's spacing at that end beyond the last
    (x10/3 above 0.1, x3/10 below 0.003), runs the full schedule (no rung), and shows in the selection, the trials
    table and compare; the walk stops once the best lies inside (or ties with a rate inside), or at the limit,
    which the selection then says. The walk itself, by hand: tests/test_edges.py."""
    added = sorted((t["job"]["method"]["lr"] for t in _trials(searched[strategy], added=True)),
                   key=lambda lr: abs(math.log(lr / 0.01)))  # out from the grid
    assert len(added) <= 3, added
    expected = [max(LRS) if added and added[0] > max(LRS) else min(LRS)]
    for _ in added:
        expected.append(float(f"{expected[-1] * (0.1 / 0.03 if expected[0] == max(LRS) else 3e-3 / 1e-2):.3g}"))
    assert added == expected[1:], added
    added.sort()
    assert all("rung" not in t["job"] for t in _trials(searched[strategy], added=True))
    run = next(json.loads(p.read_text()) for p in (searched[strategy] / "tiny").glob("*.json"))
    selection = run["selection"]
    rows = [row for row in selection["trials"] if row.get("added")]
    assert sorted(row["lr"] for row in rows) == added and len(selection["trials"]) == 4 + len(added)
    line = sorted([*LRS, *added])
    tied = sum(row["score"] == selection["score"] for row in selection["trials"]) > 1  # the best region reaches in
    at_edge = selection["chosen"]["lr"] in (line[0], line[-1]) and not tied
    assert selection["edge"] == {"added": len(added), "limit": 3, "reached": at_edge}
    assert not at_edge or len(added) == 3  # the walk went on while the best was alone at the edge
    assert searched[f"{strategy}-log"].count("added beyond the grid") == len(added)
    compared = subprocess.run([sys.executable, "-m", "poc_cli", "compare", "--store", str(searched[strategy]),
                               "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    row = next(r for r in json.loads(compared.stdout) if r["method"] == "lora")
    assert row["selection"]["trials"] == 4 + len(added), row["selection"]
    assert row["selection"]["beyond_grid"] == selection["edge"]
    page = tmp_path / "r.md"
    done = subprocess.run([sys.executable, "-m", "poc_cli", "report", "--store", str(searched[strategy]), "--format",
                           "md", "--output", str(page)], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = page.read_text(encoding="utf-8")  # the search table marks each added trial; the quality table counts them
    assert sum(line.rstrip().endswith("added beyond the grid |") for line in report.splitlines()) == len(added)
    assert (f"{len(added)} of them added beyond the grid's edge" in report) is bool(added)
    assert ("beyond its edge)" in report) is bool(added)  # the methodology's grid, and what was added to it
