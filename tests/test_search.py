"""The learning-rate search: grids, the selection rule, divergence, and stage 1 -> stage 2 end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from conftest import make_examples, recipe_dict, write_jsonl, write_recipe
from poc_cli.cli import app
from poc_cli.executors.local import LocalExecutor, cpu_slots
from poc_cli.launcher import run_jobs
from poc_cli.plan import make_plan
from poc_cli.methods.full import FullSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.recipe import Recipe, load_recipe
from poc_cli.records.sections import FixedSelection, SearchSelection
from poc_cli.records.status import Stage
from poc_cli.search import HOLD_DROP, NoChoice, Point, choose, did_not_hold, grid, sensitivity
from poc_cli.store import Store
from poc_cli.tasks import task_for
from poc_cli.train import DIVERGENCE_WINDOW, Diverged, diverged, train

runner = CliRunner()
ENV = {**os.environ, "COLUMNS": "250"}
# The grid of the end-to-end test (full fine-tuning): too small to learn, two that learn, one that explodes
# (the largest learning rate a recipe accepts; LoRA's low-rank update only stalls there).
GRID = [1e-4, 3e-3, 1e-2, 1.0]


def recipe_with(**overrides: Any) -> Recipe:
    base = {"name": "r", "model": "m", "data": {"train": "t.jsonl", "test": "s.jsonl"},
            "methods": [{"method": "lora"}, {"method": "randlora"}, {"method": "full"}]}
    return Recipe.model_validate({**base, **overrides})


# ---------------------------------------------------------------- recipe and grids

def test_search_true_gives_each_method_its_default_grid() -> None:
    recipe = recipe_with(search=True)
    lora, rand, full = (grid(m) for m in recipe.methods)
    assert [p.lr for p in lora] == list(LoraSpec.GRID["lr"]) and {p.alpha_ratio for p in lora} == {None}
    assert [p.lr for p in full] == list(FullSpec.GRID["lr"])
    assert {(p.lr, p.alpha_ratio) for p in rand} == {
        (lr, a) for lr in RandLoraSpec.GRID["lr"] for a in RandLoraSpec.GRID["alpha_ratio"]}
    assert recipe.searched == [0, 1, 2]


def test_custom_grids_fixed_alpha_and_opting_out() -> None:
    recipe = recipe_with(search={"steps": 5, "metric": "macro_f1"}, methods=[
        {"method": "lora", "search": {"lr": [0.02, 0.01]}},
        {"method": "randlora", "alpha_ratio": 2, "search": {"lr": [1e-3]}},
        {"method": "full", "search": False, "lr": 1e-4}])
    assert grid(recipe.methods[0]) == [Point(0.01, None), Point(0.02, None)]  # sorted
    assert grid(recipe.methods[1]) == [Point(1e-3, 2.0)]  # an alpha_ratio given is kept, not searched
    assert recipe.searched == [0, 1]


@pytest.mark.parametrize(("change", "message"), [
    ({"methods": [{"method": "lora", "lr": 1e-3}]}, "methods.0.lr: fixed while 'search' is on"),
    ({"methods": [{"method": "lora", "search": {"lr": [1e-3, 1e-3]}}]}, "lr: the grid has repeated values"),
    ({"methods": [{"method": "lora", "search": {"lr": []}}]}, "methods.0.search.lr"),
    ({"methods": [{"method": "lora", "search": {"alpha_ratio": [2]}}]}, "unknown key 'alpha_ratio'"),
    ({"methods": [{"method": "randlora", "alpha_ratio": 2, "search": {"alpha_ratio": [2, 20]}}]},
     "methods.0.alpha_ratio: fixed while methods.0.search.alpha_ratio is a grid"),
    ({"search": {"epochs": 1, "steps": 3}}, "give either 'epochs' or 'steps'"),
    ({"search": {"metric": "loss"}}, "search.metric"),
    ({"data": {"train": "t", "test": "s", "validation_fraction": 0.1}, "search": {"validation_fraction": 0.2}},
     "search.validation_fraction: the data already has a validation split"),
])
def test_bad_search_settings_are_one_line_errors(tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path],
                                                 change: dict[str, Any], message: str) -> None:
    recipe = recipe_dict(tiny_model_dir, tiny_data, search=True, methods=[{"method": "lora"}])
    recipe.update(change)
    if "data" in change:
        recipe["data"] = {**change["data"], "train": str(tiny_data["train"]), "test": str(tiny_data["test"])}
    result = runner.invoke(app, ["plan", str(write_recipe(tmp_path / "r.yaml", recipe)), "--no-estimate"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ": recipe: " not in result.stderr


def test_a_grid_without_the_search_switch_is_an_error(tmp_path: Path, tiny_model_dir: Path,
                                                      tiny_data: dict[str, Path]) -> None:
    recipe = recipe_dict(tiny_model_dir, tiny_data, methods=[{"method": "lora", "search": {"lr": [1e-3]}}])
    result = runner.invoke(app, ["plan", str(write_recipe(tmp_path / "r.yaml", recipe)), "--no-estimate"])
    assert result.exit_code == 2 and "methods.0.search: a grid needs the top-level 'search'" in result.stderr


# ---------------------------------------------------------------- selection rule

def trial(lr: float, status: str, score: float | None, alpha: float | None = None) -> tuple[Point, str, dict]:
    record: dict[str, Any] = {"status": status, "error": None, "data": {"sizes": {"train": 90, "validation": 10}}}
    if score is not None:
        record["metrics"] = {"validation": {"accuracy": score, "macro_f1": score / 2}}
    return Point(lr, alpha), f"id{lr}{alpha}", record


def test_best_score_wins_ties_go_to_the_smaller_lr_then_alpha() -> None:
    recipe = recipe_with(search=True)
    picked = choose(recipe, "lora", [trial(1e-3, "ok", 0.7), trial(2e-3, "ok", 0.9), trial(5e-3, "ok", 0.8)])
    assert picked.point == Point(2e-3, None) and picked.selection.score == 0.9
    tie = choose(recipe, "lora", [trial(5e-3, "ok", 0.9), trial(1e-3, "ok", 0.9), trial(2e-3, "ok", 0.5)])
    assert tie.point.lr == 1e-3 and "smaller learning rate" in tie.selection.tie_break
    alphas = choose(recipe, "randlora", [trial(1e-3, "ok", 0.9, 20.0), trial(1e-3, "ok", 0.9, 2.0)])
    assert alphas.point == Point(1e-3, 2.0)
    selection = picked.selection
    assert selection.how == "search" and selection.split == "validation" and len(selection.trials) == 3
    assert selection.examples == {"train": 90, "validation": 10}


def test_the_metric_to_maximise_is_the_recipes() -> None:
    recipe = recipe_with(search={"metric": "macro_f1"})
    picked = choose(recipe, "lora", [trial(1e-3, "ok", 0.6), trial(2e-3, "ok", 0.8)])
    assert picked.selection.score == 0.4 and picked.selection.metric == "macro_f1"


def test_diverged_trials_never_win_and_unfinished_ones_hold_the_method() -> None:
    recipe = recipe_with(search=True)
    picked = choose(recipe, "lora", [trial(1e-3, "ok", 0.2), trial(1e-1, "diverged", None)])
    assert picked.point.lr == 1e-3
    with pytest.raises(NoChoice, match="every search trial diverged"):
        choose(recipe, "lora", [trial(1e-1, "diverged", None), trial(1.0, "diverged", None)])
    with pytest.raises(NoChoice, match="1 of 2 search trials did not finish \\(failed\\)"):
        choose(recipe, "lora", [trial(1e-3, "ok", 0.9), trial(2e-3, "failed", None)])
    with pytest.raises(NoChoice, match="did not finish \\(missing\\)"):
        choose(recipe, "lora", [trial(1e-3, "ok", 0.9), (Point(2e-3, None), "x", None)])


def selection_of(scores: list[tuple[float, float | None]]) -> SearchSelection | FixedSelection:
    picked = choose(recipe_with(search=True), "m", [trial(lr, "ok" if s is not None else "diverged", s)
                                                   for lr, s in scores])
    return picked.selection


def test_sensitivity_flags_a_narrow_region_and_a_best_at_the_edge() -> None:
    narrow = sensitivity(selection_of([(1e-3, 0.30), (2e-3, 0.60), (5e-3, 0.35), (1e-2, None)]))
    assert narrow is not None and narrow.narrow and not narrow.at_edge and narrow.diverged == 1
    assert narrow.curves[None] == [(1e-3, 0.30), (2e-3, 0.60), (5e-3, 0.35), (1e-2, None)]
    broad = sensitivity(selection_of([(1e-3, 0.58), (2e-3, 0.60), (5e-3, 0.40)]))
    assert broad is not None and broad.narrow is False
    edge = sensitivity(selection_of([(1e-3, 0.2), (2e-3, 0.5)]))
    assert edge is not None and edge.at_edge and edge.narrow
    single = sensitivity(selection_of([(1e-3, 0.5)]))
    assert single is not None and single.narrow is None and not single.at_edge
    assert sensitivity(FixedSelection.model_validate({"how": "default", "chosen": {"lr": 1e-3}})) is None


def test_a_setting_that_does_not_hold_up_in_the_seeded_runs_is_flagged() -> None:
    selection = selection_of([(1e-3, 0.30), (1e-2, 0.60)])
    assert did_not_hold(selection, [0.58, 0.60]) is None
    assert did_not_hold(selection, [0.02, 0.04]) == pytest.approx(0.57)
    assert did_not_hold(selection, [0.60 - HOLD_DROP + 0.001]) is None
    assert did_not_hold(selection, []) is None and did_not_hold(FixedSelection(how="recipe"), [0.1]) is None


# ---------------------------------------------------------------- divergence in the training loop

def test_divergence_rule() -> None:
    assert diverged([0.7, float("nan")]) and diverged([0.7, math.inf])
    assert not diverged([0.7] + [5.0] * (DIVERGENCE_WINDOW - 1))  # too few steps to judge an explosion
    assert diverged([0.7] + [3.0] * DIVERGENCE_WINDOW)  # mean of the window > 4 x the first loss
    assert not diverged([0.7] + [2.0] * DIVERGENCE_WINDOW)


def test_a_huge_learning_rate_stops_training_early(tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    from poc_cli.data import load_splits
    from transformers import AutoModelForSequenceClassification

    recipe = Recipe.model_validate(recipe_dict(tiny_model_dir, tiny_data, training={"steps": 200, "batch_size": 16, "max_length": 16}))
    task = task_for(recipe)
    splits = load_splits(recipe.data, task)
    tokenizer = task.processor(str(tiny_model_dir), None)
    batches = task.loader(task.encode(splits.train, tokenizer, splits.labels, recipe.training), tokenizer,
                          batch_size=16, shuffle=True, seed=0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    with pytest.raises(Diverged) as stop:
        train(model, batches, task=task, training=recipe.training, lr=1.0, device=torch.device("cpu"))
    assert stop.value.step < 200 and len(stop.value.losses) == stop.value.step
    assert diverged(stop.value.losses)


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Any]:
    """Stage 1 run with the test file moved away, then `poc run` for both stages, then a direct check."""
    folder = tmp_path_factory.mktemp("search")
    data = {
        "train": write_jsonl(folder / "train.jsonl", make_examples(96, seed=1)),
        "validation": write_jsonl(folder / "validation.jsonl", make_examples(40, seed=3)),
        "test": write_jsonl(folder / "test.jsonl", make_examples(40, seed=2)),
    }
    data_spec = {"train": str(data["train"]), "validation": str(data["validation"]), "test": str(data["test"])}
    training = {"steps": 48, "batch_size": 16, "max_length": 16}
    path = write_recipe(folder / "search.yaml", {**recipe_dict(
        tiny_model_dir, data, name="search", training=training, search={"strategy": "grid"},
        methods=[{"method": "full", "search": {"lr": GRID}}]), "data": data_spec})
    store = folder / "store"

    # Stage 1 on its own, with no test file on disk: a trial that opened it would fail.
    plan = make_plan(load_recipe(path))
    hidden = data["test"].rename(folder / "hidden.jsonl")
    trial_outcomes = run_jobs(plan.trial_jobs, store=Store(store), executor=LocalExecutor(cpu_slots(1)))
    hidden.rename(data["test"])
    trials_dir = Store(store).job_dir("search", Stage.TRIAL)
    first_attempts = {p.name: json.loads(p.read_text())["attempt"] for p in trials_dir.glob("*.json")}

    run = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(path), "--store", str(store)],
                         capture_output=True, text=True, env=ENV, timeout=600)

    # Direct check: each learning rate as an ordinary fixed-lr run, read on the validation split.
    direct_path = write_recipe(folder / "direct.yaml", {**recipe_dict(
        tiny_model_dir, data, name="direct", training=training,
        methods=[{"method": "full", "name": f"lr{lr:g}", "lr": lr} for lr in GRID]), "data": data_spec})
    direct = subprocess.run([sys.executable, "-m", "poc_cli", "run", str(direct_path), "--store", str(store)],
                            capture_output=True, text=True, env=ENV, timeout=600)
    return {"plan": plan, "trial_outcomes": trial_outcomes, "store": store, "run": run, "direct": direct,
            "first_attempts": first_attempts, "trials_dir": trials_dir, "path": path}


def stored(store: Path) -> list[dict[str, Any]]:
    """The store's seeded runs as stored."""
    return [r.stored() for r in Store(store).records()]


def trial_records(searched: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(searched["trials_dir"].glob("*.json"))]


def test_trials_never_read_the_test_split(searched: dict[str, Any]) -> None:
    assert [o.status.value for o in searched["trial_outcomes"]] == ["ok", "ok", "ok", "diverged"]
    records = trial_records(searched)
    assert len(records) == len(GRID)
    for rec in records:
        assert rec["stage"] == "trial"
        assert "test" not in rec["data"]["sizes"] and "test" not in rec["metrics"] and "test" not in rec["predictions"]
        assert [s["path"] for s in rec["data"]["sources"]] == [rec["job"]["recipe"]["data"]["train"],
                                                               rec["job"]["recipe"]["data"]["validation"]]
        assert not Store(searched["store"]).adapter_dir("search", rec["job_id"]).exists()  # trials save nothing
        if rec["status"] == "ok":
            assert rec["metrics"]["validation"]["n"] == 40 and rec["adapter"]["path"] is None


def test_a_diverging_trial_is_stopped_and_recorded(searched: dict[str, Any]) -> None:
    bad = next(r for r in trial_records(searched) if r["job"]["method"]["lr"] == 1.0)
    assert bad["status"] == "diverged" and "loss diverged at step" in bad["error"]
    assert 0 < len(bad["loss_curve"]) < 48 and bad["metrics"] == {}


def test_the_search_picks_what_a_direct_check_shows_is_best(searched: dict[str, Any]) -> None:
    assert searched["run"].returncode == 0, searched["run"].stdout + searched["run"].stderr
    direct_run = searched["direct"]  # its lr 1 run diverges: exit 1, said so
    assert direct_run.returncode == 1 and "1 of 4 seeded run(s) diverged (lr1 seed 0): lower the learning rate" in direct_run.stderr, direct_run.stderr
    direct = {r["job"]["method"]["lr"]: r for r in stored(searched["store"]) if r["recipe_name"] == "direct"}
    scores = {lr: r["metrics"]["validation"]["accuracy"] for lr, r in direct.items() if r["status"] == "ok"}
    assert direct[1.0]["status"] == "diverged"  # the same rule stops a seeded run
    best = max(scores.values())
    expected = min(lr for lr, s in scores.items() if s == best)  # ties: the smaller learning rate
    assert len(set(scores.values())) > 1, scores  # the grid really separates the settings

    run = next(r for r in stored(searched["store"]) if r["recipe_name"] == "search")
    selection = run["selection"]
    assert run["job"]["method"]["lr"] == selection["chosen"]["lr"] == expected
    assert selection["score"] == best
    # Trials train exactly as these fixed-lr runs do, so their validation scores agree.
    assert {t["lr"]: t["score"] for t in selection["trials"] if t["score"] is not None} == scores
    assert run["metrics"]["test"]["n"] == 40 and run["stage"] == "run"


def test_rerun_reuses_finished_trials(searched: dict[str, Any]) -> None:
    out = searched["run"].stdout
    assert out.count("done before, skipped") == len(GRID)  # stage 1 was run before `poc run`
    assert "<- chosen" in out and "Search trials" in out
    again = {p.name: json.loads(p.read_text())["attempt"] for p in searched["trials_dir"].glob("*.json")}
    assert again == searched["first_attempts"]


def test_compare_and_report_show_the_chosen_setting(searched: dict[str, Any], tmp_path: Path) -> None:
    store = str(searched["store"])
    rows = json.loads(runner.invoke(app, ["compare", "--store", store, "--recipe", "search", "--json"]).stdout)
    rows = [r for r in rows if r["method"] == "full"]  # not the trivial reference's row
    assert rows[0]["lr"] == rows[0]["selection"]["chosen"]["lr"] and rows[0]["selection"]["trials"] == len(GRID)
    table = runner.invoke(app, ["compare", "--store", store, "--recipe", "search"], env={"COLUMNS": "100"})
    assert "search ×4" in table.output and "chosen by a search of N trials" in table.output
    wide = runner.invoke(app, ["compare", "--store", store, "--recipe", "search", "--wide"], env={"COLUMNS": "300"})
    assert "search: best of 4 trials" in wide.output
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["report", "--store", store, "--recipe", "search", "--output", str(html)]).exit_code == 0
    page = html.read_text()
    assert "Validation accuracy against learning rate" in page and page.count("<svg") >= 2
    assert "1 of 4 search trials diverged" in page
    ja = tmp_path / "r.ja.html"
    runner.invoke(app, ["report", "--store", store, "--recipe", "search", "--lang", "ja", "--output", str(ja)])
    assert "学習率と検証データの正解率" in ja.read_text()
    md = tmp_path / "r.md"
    runner.invoke(app, ["report", "--store", store, "--recipe", "search", "--format", "md", "--output", str(md)])
    rows = [line for line in md.read_text().splitlines() if line.startswith("| Full fine-tuning | - |")]  # display name
    assert len(rows) == len(GRID) and sum("chosen" in row for row in rows) == 1
    assert any("| diverged | - |" in row for row in rows)


def test_plan_lists_the_trials_and_estimates_both_stages(searched: dict[str, Any]) -> None:
    result = runner.invoke(app, ["plan", str(searched["path"]), "--json"])
    plan = json.loads(result.stdout)
    assert [t["lr"] for t in plan["trials"]] == GRID and plan["search"]["sizes"]["validation"] == 40
    assert plan["runs"] == [{"id": None, "method": "full", "seed": 0, "setting": "chosen by the search"}]
    estimate = plan["estimate"]
    assert estimate["trials_s"] > 0 and estimate["runs_s"] > 0
    # The fork server starts once, with the first trial; then each trial costs about one run.
    assert estimate["trials_s"] - estimate["startup_s"] == pytest.approx(len(GRID) * estimate["runs_s"], rel=0.5)
    table = runner.invoke(app, ["plan", str(searched["path"])], env={"COLUMNS": "200"})
    assert "4 trial jobs (up to 3 more beyond the grids' edges), then 1 seeded run(s)" in table.output
    assert "the test split is never read" in table.output and "up to 3" in table.output  # the search table's column


def test_report_and_compare_say_when_the_chosen_setting_did_not_hold_up(searched: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    """As measured on Banking77: 1-epoch trials chose a learning rate that collapsed over 3 epochs.
    Here the stored seeded run is edited to that outcome (records are data; the report reads them)."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(searched["store"], store)
    path = next(p for p in (store / "search").glob("*.json"))
    record = json.loads(path.read_text())
    record["selection"]["trial_length"] = {"epochs": 1, "steps": None}
    record["metrics"]["validation"]["accuracy"] = record["selection"]["score"] - 0.25
    path.write_text(json.dumps(record))
    rows = json.loads(runner.invoke(app, ["compare", "--store", str(store), "--recipe", "search", "--json"]).stdout)
    rows = [r for r in rows if r["method"] == "full"]
    assert rows[0]["selection"]["held"] is False
    assert rows[0]["selection"]["runs_validation"] == pytest.approx(record["selection"]["score"] - 0.25)
    html = tmp_path / "r.html"
    runner.invoke(app, ["report", "--store", str(store), "--recipe", "search", "--output", str(html)])
    page = html.read_text()
    assert "the chosen setting did not hold up" in page and "25.0 points below the winning trial" in page
    assert "Its trials trained 1 epoch(s) and the seeded runs 48 steps" in page
    untouched = tmp_path / "u.html"
    runner.invoke(app, ["report", "--store", str(searched["store"]), "--recipe", "search", "--output", str(untouched)])
    assert "the chosen setting did not hold up" not in untouched.read_text()
