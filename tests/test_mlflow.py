"""`poc export mlflow` into a real MLflow database and file stores, read back through MLflow's own client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poc_cli.store import Store

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # these tests read file stores, as poc writes them

from mlflow.tracking import MlflowClient  # noqa: E402

POC = [sys.executable, "-m", "poc_cli"]
ENV = {**os.environ, "COLUMNS": "250"}


def export(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POC, "export", "mlflow", *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=600)


def runs_by_job(client: MlflowClient) -> dict[str, object]:
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=1000)
    keyed = {run.data.tags["poc.job_id"]: run for run in runs}
    assert len(keyed) == len(runs), "a job was exported twice"
    return keyed


def test_export_logs_each_record_once_and_updates_on_a_second_export(tmp_path: Path, tiny_store: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    records = {r.job_id: r.stored() for r in Store(store).records()}
    uri = (tmp_path / "mlruns").as_uri()

    first = export("--store", str(store), "--tracking-uri", uri, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(records)} run(s) created, 0 updated, 0 already up to date" in first.stdout
    client = MlflowClient(tracking_uri=uri)
    runs = runs_by_job(client)
    assert set(runs) == set(records)
    for job_id, record in records.items():
        run = runs[job_id]
        assert run.data.params["method"] == record["method"] and run.data.params["seed"] == str(record["seed"])
        assert run.data.params["precision"] == record["job"]["recipe"]["training"]["precision"]
        assert run.data.params["budget_parameters"] == str(record["job"]["allocation"]["budget"])
        assert run.data.tags["poc.status"] == record["status"] and run.data.tags["poc.recipe"] == record["recipe_name"]
        assert client.get_experiment(run.info.experiment_id).name == record["recipe_name"]  # markup kept as text
        for name, value in record["metrics"].get("test", {}).items():
            if isinstance(value, float):
                assert run.data.metrics[f"test_{name}"] == pytest.approx(value, rel=1e-12)
        if record["timing"].get("train_s"):
            assert run.data.metrics["train_s"] == pytest.approx(record["timing"]["train_s"])
        if record["recipe_name"] == "tiny":
            assert run.data.metrics["cost"] == pytest.approx(record["timing"]["train_s"] / 3600 * 2.0)  # EUR 2/h
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "record" in artifacts
        assert ("adapter" in artifacts) == bool(record["adapter"].get("path"))
        assert run.info.status == ("FINISHED" if record["status"] == "ok" else "FAILED")

    again = export("--store", str(store), "--tracking-uri", uri, cwd=tmp_path)
    assert again.returncode == 0 and f"0 run(s) created, 0 updated, {len(records)} already up to date" in again.stdout
    assert set(runs_by_job(client)) == set(records)

    # A job run again (a new attempt, another score) updates its run, never adds one.
    job_id, record = next((j, r) for j, r in records.items() if r["status"] == "ok")
    path = Store(store).record_path(record["recipe_name"], job_id)
    record = {**record, "attempt": "a-new-attempt",
              "metrics": {**record["metrics"], "test": {**record["metrics"]["test"], "accuracy": 0.125}}}
    path.write_text(json.dumps(record))
    third = export("--store", str(store), "--tracking-uri", uri, cwd=tmp_path)
    assert third.returncode == 0 and "0 run(s) created, 1 updated" in third.stdout, third.stdout + third.stderr
    runs = runs_by_job(client)
    assert len(runs) == len(records)
    assert runs[job_id].data.metrics["test_accuracy"] == 0.125 and runs[job_id].data.tags["poc.attempt"] == "a-new-attempt"


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)).split("/")[0] for p in folder.iterdir()}


def test_export_defaults_to_an_sqlite_database_and_an_empty_store_is_one_line(
        tmp_path: Path, tiny_store: Path) -> None:
    """MLflow's recommended backend, a database, in the current folder; nothing written elsewhere; the
    export ends with the command that opens it."""
    here = tmp_path / "here"
    here.mkdir()
    done = export("--store", str(tiny_store), "--experiment", "poc-team", "--recipe", "tiny", cwd=here)
    assert done.returncode == 0, done.stdout + done.stderr
    database = f"sqlite:///{here / 'mlflow.db'}"
    assert f"at {database}" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == f"to look at them: mlflow ui --backend-store-uri {database}"
    assert _files(here) == {"mlflow.db", "mlflow-artifacts"}  # the database and its runs' files beside it
    client = MlflowClient(tracking_uri=database)
    runs = client.search_runs([client.get_experiment_by_name("poc-team").experiment_id])
    assert {run.data.tags["poc.recipe"] for run in runs} == {"tiny"} and len(runs) == 6
    assert all("record" in {a.path for a in client.list_artifacts(run.info.run_id)} for run in runs)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = export("--store", str(empty), cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [f"error: nothing to export: no records in {empty}"]


@pytest.mark.parametrize("form", ["file:{path}", "file://{path}", "file://localhost{path}", "{path}"])
def test_a_file_uri_in_any_form_goes_where_it_says(tmp_path: Path, tiny_store: Path, form: str) -> None:
    """file:/x (one slash), file:///x (three), file://localhost/x and a plain path: the folder named, never a
    folder called "file:" in the current directory."""
    here, target = tmp_path / "here", tmp_path / "elsewhere" / "mlruns"
    here.mkdir()
    done = export("--store", str(tiny_store), "--recipe", "tiny", "--tracking-uri", form.format(path=target), cwd=here)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _files(here) == set() and target.is_dir()
    client = MlflowClient(tracking_uri=target.as_uri())
    assert len(client.search_runs([client.get_experiment_by_name("tiny").experiment_id])) == 6
    assert done.stdout.strip().splitlines()[-1] == f"to look at them: mlflow ui --backend-store-uri {target.as_uri()}"


def test_an_existing_mlruns_folder_keeps_working(tmp_path: Path, tiny_store: Path) -> None:
    """Where an earlier poc exported into ./mlruns (and there is no database yet), exports go on there."""
    first = export("--store", str(tiny_store), "--recipe", "tiny", "--tracking-uri", "mlruns", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = export("--store", str(tiny_store), "--recipe", "tiny", cwd=tmp_path)
    assert again.returncode == 0 and "0 run(s) created, 0 updated, 6 already up to date" in again.stdout
    assert "note: exported into ./mlruns, where poc exported before" in again.stdout
    assert _files(tmp_path) == {"mlruns"}
