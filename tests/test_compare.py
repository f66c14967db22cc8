"""`poc compare` on a store produced by real runs of a tiny model."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import XSS_NAME
from poc_cli.cli import app
from poc_cli.compare import compare
from poc_cli.records.record import SCHEMA_VERSION
from poc_cli.stats import holm, paired_t
from poc_cli.store import Store

runner = CliRunner()


@pytest.fixture()
def store(tiny_store: Path) -> Path:
    return tiny_store


def records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in root.glob("*/*.json")]


def test_rows_follow_the_stored_records(store: Path) -> None:
    rows = {(r.recipe, r.method): r for r in compare(Store(store))}
    stored = {(r["recipe_name"], r["method"], r["seed"]): r for r in records(store)}
    lora, rand = rows[("tiny", "lora")], rows[("tiny", "randlora")]
    acc = {m: [stored[("tiny", m, s)]["metrics"]["test"]["accuracy"] for s in (0, 1)]
           for m in ("lora", "randlora", "full")}
    assert lora.metric == "accuracy" and list(lora.scores) == ["accuracy", "macro_f1"]
    assert lora.score.mean == pytest.approx(sum(acc["lora"]) / 2) and lora.score.n == 2
    assert lora.difference is None and rand.baseline == "lora"
    # Two methods against LoRA: Holm adjusts both p-values, and each interval is the t-test's own at
    # the level Holm's step used.
    diffs = {m: [a - b for a, b in zip(acc[m], acc["lora"])] for m in ("randlora", "full")}
    adjusted = dict(zip(diffs, holm([paired_t(d).p_value for d in diffs.values()])))
    p_value, confidence = adjusted["randlora"]
    expected = paired_t(diffs["randlora"], confidence)
    assert rand.difference.mean == pytest.approx(expected.mean)
    assert (rand.difference.low, rand.difference.high) == pytest.approx((expected.low, expected.high))
    assert rand.difference.p_value == pytest.approx(p_value) and rand.difference.adjusted_for == 2
    assert rand.difference.significant == (p_value < 0.05)
    assert rand.trainable_parameters == stored[("tiny", "randlora", 0)]["parameters"]["trainable_counted"]
    assert rand.memory_label == "host RSS peak (no GPU)" and rand.peak_memory_mib > 100
    assert rand.energy_j is None and rand.price.per_hour == 2.0 and rand.price.currency == "EUR"
    assert rand.cost_per_run == pytest.approx(rand.train_s.mean / 3600 * 2.0)
    slow = rows[(XSS_NAME, "lora")]
    assert slow.statuses == {"timeout": 1} and slow.score is None


def test_cli_table_json_csv_and_filters(store: Path) -> None:
    table = runner.invoke(app, ["compare", "--store", str(store)], env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    assert "Recipe tiny" in table.output and "1 timeout" in table.output
    assert "host RAM (peak RSS), no GPU ran" in table.output and "from the recipe" in table.output

    data = json.loads(runner.invoke(app, ["compare", "--store", str(store), "--json"]).stdout)
    assert {(d["recipe"], d["method"]) for d in data} == {("tiny", "majority-class"), ("tiny", "lora"),
                                                            ("tiny", "randlora"), ("tiny", "full"), (XSS_NAME, "lora")}
    frame = pd.read_csv(io.StringIO(runner.invoke(app, ["compare", "--store", str(store), "--csv"]).stdout))
    assert len(frame) == 5 and {"diff_low", "score_low", "learned", "diff_p_value", "job_ids"} <= set(frame.columns)
    assert {"diff_confidence", "diff_adjusted_for", "diff_detectable", "diff_needed"} <= set(frame.columns)

    only = json.loads(runner.invoke(app, ["compare", "--store", str(store), "--json", "--recipe", "tiny",
                                          "--method", "full", "--method", "randlora", "--baseline", "full"]).stdout)
    assert sorted(d["method"] for d in only) == ["full", "majority-class", "randlora"]
    assert all(d["baseline"] == "full" for d in only)
    priced = json.loads(runner.invoke(app, ["compare", "--store", str(store), "--json", "--recipe", "tiny",
                                            "--price-per-hour", "3600", "--currency", "JPY"]).stdout)
    for d in (d for d in priced if d["train_s"]):  # the trivial answer did not run: it costs nothing
        assert d["cost_per_run"] == pytest.approx(d["train_s"]["mean"]) and d["price"]["currency"] == "JPY"


def test_empty_or_missing_store_exits_1(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["compare", "--store", str(tmp_path / "absent")])
    assert missing.exit_code == 1 and "store not found" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["compare", "--store", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "no records" in empty.stderr


def test_a_damaged_store_is_read_around_with_one_warning_per_file(store: Path, tmp_path: Path) -> None:
    """Each damaged file is skipped with its path and reason (stderr), counted in the report, and
    --strict makes it an error; nothing else changes and nothing tracebacks."""
    damaged = tmp_path / "store"
    shutil.copytree(store, damaged)
    good = json.loads(next((damaged / "tiny").glob("*.json")).read_text())
    bad = {
        "latin1.json": "caf\xe9".encode("latin-1"), "list.json": b"[1, 2]", "empty-object.json": b"{}",
        "job-null.json": json.dumps({**good, "job": None}).encode(),
        "seed-string.json": json.dumps({**good, "seed": "0"}).encode(),
        "status.json": json.dumps({**good, "status": "finished"}).encode(),
        "newer.json": json.dumps({**good, "schema_version": 99}).encode(),
        "truncated.json": json.dumps(good).encode()[:500], "bom.json": b"\xef\xbb\xbf" + json.dumps(good).encode(),
        "zero.json": b"",
        "score-string.json": json.dumps({**good, "metrics": {**good["metrics"], "test": {
            **good["metrics"]["test"], "accuracy": "0.9"}}}).encode(),
        "score-nan.json": json.dumps({**good, "metrics": {**good["metrics"], "test": {
            **good["metrics"]["test"], "accuracy": float("nan")}}}).encode(),
        "no-metrics.json": json.dumps({**good, "task": {**good["task"], "metrics": []}}).encode(),
        "negative-count.json": json.dumps({**good, "parameters": {**good["parameters"],
                                                                  "trainable_counted": -5}}).encode(),
        "scores-cut.json": json.dumps({**good, "predictions": {**good["predictions"], "test": {
            **good["predictions"]["test"], "per_example": {"accuracy": good["predictions"]["test"]["per_example"][
                "accuracy"][:-2]}}}}).encode(),
    }
    for name, content in bad.items():
        (damaged / "tiny" / name).write_bytes(content)
    os.mkfifo(damaged / "tiny" / "pipe.json")  # read as a record it would block for ever
    bad["pipe.json"] = b""
    reasons = {"latin1.json": "not UTF-8", "list.json": "valid dictionary", "empty-object.json": "job_id",
               "job-null.json": "job:", "seed-string.json": "seed:", "status.json": "status:",
               "newer.json": f"record schema 99; this poc reads up to {SCHEMA_VERSION}", "truncated.json": "not valid JSON",
               "bom.json": "byte-order mark", "zero.json": "empty file",
               "score-string.json": "metrics.test.accuracy: a score must be a number, not str '0.9'",
               "score-nan.json": "metrics.test.accuracy: a score must be finite, not nan",
               "no-metrics.json": "task.metrics: a task declares at least one metric",
               "negative-count.json": "parameters.trainable_counted: Input should be greater than or equal to 0",
               "scores-cut.json": "predictions.test.per_example.accuracy: 38 scores for 40 test examples",
               "pipe.json": "not a regular file"}
    out = tmp_path / "r.md"
    for args in (["compare", "--store", str(damaged)], ["compare", "--store", str(damaged), "--json"],
                 ["report", "--store", str(damaged), "--format", "md", "--output", str(out), "--recipe", "tiny"]):
        result = runner.invoke(app, args, env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: skipped")]
        assert len(warnings) == len(bad)
        for name, reason in reasons.items():
            assert any(name in w and reason in w for w in warnings), (name, warnings)
    assert f"{len(bad)} file(s) in the recipe's folder could not be read" in out.read_text()
    assert {r["method"] for r in json.loads(runner.invoke(app, ["compare", "--store", str(damaged), "--json",
                                                                "--recipe", "tiny"]).stdout)} == \
        {"majority-class", "lora", "randlora", "full"}  # the good records all still count
    strict = runner.invoke(app, ["compare", "--store", str(damaged), "--strict"])
    assert strict.exit_code == 1 and f"--strict: {len(bad)} record file(s)" in strict.stderr


def test_every_task_but_the_causal_lm_has_its_trivial_row_without_loading_the_tasks() -> None:
    """The trivial answers are keyed by task name (trivial.py, torch-free): a new task is added there too."""
    from poc_cli.tasks import TASKS
    from poc_cli.trivial import trivial_name

    assert {name: trivial_name(name) for name in TASKS} == {
        "text-classification": "majority-class", "image-classification": "majority-class",
        "image-text": "majority-class", "causal-lm": None, "forecasting": "seasonal-naive"}
