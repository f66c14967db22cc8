"""The store: atomic records, safe folder names, a pandas view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poc_cli.errors import PocError
from poc_cli.records.status import Stage, Status
from poc_cli.result import Record
from poc_cli.store import Store, load_frame, recipe_slug, write_json_atomic


def record(job_id: str, status: Status = Status.OK, accuracy: float = 0.9) -> Record:
    return Record(job_id=job_id, attempt="a", recipe_name="<script>alert(1)</script>", method="lora",
                  method_kind="lora", seed=0, status=status, started_at="t", finished_at="t",
                  job={"recipe": {"name": "<script>alert(1)</script>"}},
                  metrics={"test": {"accuracy": accuracy, "macro_f1": accuracy - 0.1}},
                  parameters={"trainable_counted": 10, "trainable_effective": 10})


def test_slug_is_safe_and_distinct() -> None:
    slug = recipe_slug("<script>alert(1)</script>")
    assert "/" not in slug and "<" not in slug
    assert recipe_slug("a/b") != recipe_slug("a-b")
    assert recipe_slug("banking77") == "banking77"


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}


def test_failed_write_keeps_the_previous_record(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "r.json", {"a": object()})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_done_means_ok(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(record("j1"))
    store.write(record("j2", Status.FAILED))
    assert store.is_done("<script>alert(1)</script>", "j1")
    assert not store.is_done("<script>alert(1)</script>", "j2")
    assert not store.is_done("<script>alert(1)</script>", "j3")


def test_load_frame(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(record("j1", accuracy=0.8))
    store.write(record("j2", Status.OOM))
    frame = load_frame(tmp_path)
    assert sorted(frame["status"]) == ["ok", "oom"]
    assert frame.set_index("job_id").loc["j1", "accuracy"] == pytest.approx(0.8)
    assert frame.set_index("job_id").loc["j1", "metric"] == "accuracy"  # schema 2 records: accuracy was primary
    assert frame.set_index("job_id").loc["j1", "score"] == pytest.approx(0.8)


def test_load_frame_missing_store(tmp_path: Path) -> None:
    with pytest.raises(PocError, match="store not found"):
        load_frame(tmp_path / "nope")


def test_trials_live_apart_and_diverged_is_final(tmp_path: Path) -> None:
    store = Store(tmp_path)
    trial = record("t1")
    trial.stage = Stage.TRIAL
    store.write(trial)
    store.write(record("r1", Status.DIVERGED))
    assert store.record_path(trial.recipe_name, "t1", Stage.TRIAL).parent.name == "trials"
    assert store.read(trial.recipe_name, "t1") is None  # not a seeded run
    assert store.read(trial.recipe_name, "t1", Stage.TRIAL)["stage"] == "trial"
    assert [r.job_id for r in store.records()] == ["r1"]  # compare and report never see trials
    assert list(load_frame(tmp_path)["job_id"]) == ["r1"]
    assert store.is_done(trial.recipe_name, "r1")  # diverged: a rerun would diverge again
    store.write(record("r2", Status.INTERRUPTED))
    assert not store.is_done(trial.recipe_name, "r2")
