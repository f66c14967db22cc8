"""`poc export mlflow`: every stored record as an MLflow run, beside the team's own experiments.

The job id is the key: a run carries it as the tag `poc.job_id`, so exporting again finds the
run and updates it (metrics, tags, artifacts) instead of adding one; a run whose `poc.attempt`
tag already names the record's attempt is left as it is. Params are the job's identity
(method, setting, seed, budget, precision), which a job id fixes, so they never change.
Every value comes from the stored record; the cost is the record's training time at the price
compare and report use, with that price's source as a tag.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from poc_cli.cost import record_price, run_cost
from poc_cli.errors import PocError, RecipeError, UsageError
from poc_cli.paths import why, writable_file, writable_folder
from poc_cli.report import default_output
from poc_cli.records.flat import flat, split_scores
from poc_cli.records.record import StoredRecord
from poc_cli.records.status import FINISHED, Stage
from poc_cli.store import Scan, Store

MLFLOW_EXTRA = "pip install 'poc-cli[mlflow]'"
DEFAULT_DATABASE = Path("mlflow.db")  # MLflow's recommended backend: a real database, here SQLite
ARTIFACTS = "mlflow-artifacts"  # beside a database poc creates experiments in: a database holds no files
LEGACY_FOLDER = Path("mlruns")  # where poc exported before: kept while it is the only store here
JOB_TAG = "poc.job_id"
# Where MLflow's tracking client can store runs besides a folder and SQLite (its own list; `+driver` allowed).
SCHEMES = {"http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc"}


@dataclass
class Exported:
    """What an export did, run by run, and where."""

    created: list[str] = field(default_factory=list)  # job ids
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    experiments: set[str] = field(default_factory=set)
    tracking: Tracking | None = None


@dataclass(frozen=True)
class Tracking:
    """Where the runs go: the URI MLflow is given, where new experiments keep their artifacts (None:
    the backend's own choice), the command that opens it, and a note where poc chose for the user."""

    uri: str
    artifacts: str | None
    open_with: str
    note: str | None = None


def require_mlflow() -> None:
    """A one-line error naming the pip command where the extra is not installed (found without importing
    it: MLflow takes seconds to import, and a tracking store that cannot be reached is said first)."""
    if importlib.util.find_spec("mlflow") is None:
        raise UsageError(f"poc export mlflow: MLflow is not installed: {MLFLOW_EXTRA}")


def _file_store(folder: Path, note: str | None = None) -> Tracking:
    """A folder as MLflow's file store: MLflow keeps it in maintenance mode and refuses it unless told
    otherwise, which poc does for file stores only."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = folder.expanduser().resolve().as_uri()
    return Tracking(uri, None, f"mlflow ui --backend-store-uri {uri}", note)


def _database(path: Path) -> Tracking:
    absolute = path.expanduser().resolve()
    uri = f"sqlite:///{absolute}"  # four slashes in all: an absolute path, openable from any folder
    return Tracking(uri, (absolute.parent / ARTIFACTS).as_uri(), f"mlflow ui --backend-store-uri {uri}")


def _file_uri_path(uri: str) -> Path:
    """The folder a `file:` URI names, in any of its forms: file:/x, file:///x, file://localhost/x, file:x."""
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise UsageError(f"--tracking-uri: {uri!r} names a file on host {parsed.netloc!r}; use a local folder, "
                         "a database (sqlite:///mlflow.db) or an MLflow server (http://...)")
    return Path(unquote(parsed.path))


def tracking(given: str | None) -> Tracking:
    """Where to export: the URI given (a server, a database, a `file:` URI or a plain folder), else
    ./mlflow.db, or ./mlruns where an earlier poc exported there and there is no database yet."""
    if given is None:
        if LEGACY_FOLDER.is_dir() and not DEFAULT_DATABASE.exists():
            return _file_store(LEGACY_FOLDER, note=f"into ./{LEGACY_FOLDER}, where poc exported before; pass "
                                                   f"--tracking-uri sqlite:///{DEFAULT_DATABASE} for a database")
        return _database(DEFAULT_DATABASE)
    if given.startswith("file:"):
        return _file_store(_file_uri_path(given))
    if "://" not in given:  # a plain path: a folder, as MLflow itself reads one
        return _file_store(Path(given))
    if given.startswith("sqlite:///"):
        return _database(Path(given.removeprefix("sqlite:///")))
    scheme = urlparse(given).scheme.split("+")[0].lower()
    if scheme not in SCHEMES:
        raise UsageError(f"--tracking-uri: {given!r}: MLflow does not store runs at {scheme}:// addresses; use a "
                         "folder, sqlite:///mlflow.db, http(s)://server, postgresql://, mysql:// or databricks")
    return Tracking(given, None, f"open {given} in a browser" if given.startswith("http") else
                    f"mlflow ui --backend-store-uri {given}")


SERVER_TIMEOUT_S = 5.0  # a tracking server that has not answered in this long is reported, not waited on


def check_reachable(where: Tracking, given: str | None) -> None:
    """Before MLflow starts (it retries a database it cannot write for minutes, and a server that is down
    for about four, printing dozens of lines): a database or folder poc can write, or a server that
    answers within SERVER_TIMEOUT_S; else one UsageError saying what and where."""
    option = "--tracking-uri" if given is not None else f"the default tracking store (sqlite:///{DEFAULT_DATABASE})"
    if where.uri.startswith("sqlite:///"):
        database = Path(where.uri.removeprefix("sqlite:///"))
        try:
            writable_file(database, option)
            if database.exists():
                with database.open("ab"):  # opened to write, nothing written: a read-only file shows here
                    pass
        except RecipeError as error:
            raise UsageError(str(error)) from None
        except OSError as error:
            raise UsageError(f"{option}: {database} cannot be written ({why(error)})") from None
        return
    if where.uri.startswith("file:"):
        try:
            writable_folder(_file_uri_path(where.uri), option)
        except RecipeError as error:
            raise UsageError(str(error)) from None
        return
    if where.uri.startswith(("http://", "https://")):
        _server_answers(where.uri, option)


def _server_answers(uri: str, option: str) -> None:
    """Any HTTP answer from the server's /health will do (an error status too: something is there)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=SERVER_TIMEOUT_S).close()  # noqa: S310
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UsageError(f"{option}: no MLflow server answered at {uri} within {SERVER_TIMEOUT_S:g} s ({reason}); "
                         "start it (mlflow server ...), or export to a database: --tracking-uri sqlite:///mlflow.db"
                         ) from None


def _slug(name: str) -> str:
    """An experiment's folder name among the artifacts: its name in safe characters, and a hash so that two
    names never share one."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "experiment"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# What a run logs, by column of the record's one flattening (`records.flat`).
PARAMS = ("method", "method_kind", "setting", "seed", "stage", "budget_parameters", "lr", "alpha_ratio", "precision",
          "model", "task")
METRICS = ("train_s", "total_s", "examples_per_s", "host_peak_rss_mib", "host_tree_peak_rss_mib", "gpu_peak_job_mib",
           "torch_peak_allocated_mib", "energy_j", "trainable_parameters", "adapter_bytes")


def params(record: StoredRecord) -> dict[str, str]:
    """The job's identity, as MLflow params (strings); the budget is in every record, even a failed one's."""
    return {key: str(value)[:6000] for key, value in flat(record, PARAMS).items() if value is not None}


def metrics(record: StoredRecord) -> dict[str, float]:
    """Test and validation metrics, time, memory, energy and cost: the record's finite numbers."""
    found = split_scores(record) | flat(record, METRICS)
    if _number(record.timing.train_s) is not None:
        found["cost"] = run_cost(record.timing.train_s, record_price(record, None))  # type: ignore[arg-type]
    return {name: number for name, value in found.items() if (number := _number(value)) is not None}


def tags(record: StoredRecord) -> dict[str, str]:
    """Status, recipe, job id, attempt and stage; the price behind the cost metric."""
    found = {
        JOB_TAG: record.job_id,
        "poc.attempt": record.attempt,
        "poc.status": record.status.value,
        "poc.recipe": record.recipe_name,
        "poc.stage": record.stage.value,
        "poc.error": (record.error or "")[:5000] or None,
        "poc.placement": json.dumps(record.placement.model_dump(exclude_unset=True) if record.placement else {},
                                    sort_keys=True),
    }
    if _number(record.timing.train_s) is not None:
        price = record_price(record, None)
        found["poc.cost"] = f"{price.per_hour:g} {price.currency} per hour ({price.source})"
    return {key: str(value) for key, value in found.items() if value is not None}


def _run_name(record: StoredRecord) -> str:
    if record.stage is Stage.TRIAL:
        lr = record.job.method.lr
        return f"{record.method} trial lr {lr:g}" if lr is not None else f"{record.method} trial"
    return f"{record.method} seed {record.seed}"


def _records(store: Store, scan: Scan, recipe: str | None) -> list[tuple[StoredRecord, Path]]:
    """Seeded runs (from the caller's scan of the store) and search trials, each with its record file."""
    found = []
    for record in scan.records:
        if recipe is None or record.recipe_name == recipe:
            found.append((record, store.record_path(record.recipe_name, record.job_id, Stage.RUN)))
    for name in sorted({r.recipe_name for r, _ in found} | ({recipe} if recipe else set())):
        for record in store.trial_records(name):
            found.append((record, store.record_path(name, record.job_id, Stage.TRIAL)))
    return found


def export(store: Store, *, uri: str | None = None, experiment: str | None = None,
           recipe: str | None = None, scan: Scan | None = None) -> Exported:
    """Log (or update) one MLflow run per record of the store (`scan`: the store as the caller read
    it); the experiment is `experiment`, else the recipe's name."""
    if experiment is not None and not experiment.strip():
        raise UsageError("--experiment: an empty name; leave the option out to use each recipe's name")
    require_mlflow()
    where = tracking(uri)
    check_reachable(where, uri)  # before MLflow is imported (seconds) and before it retries for minutes
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:  # found but broken, or blocked
        raise UsageError(f"poc export mlflow: MLflow is not installed: {MLFLOW_EXTRA}") from None
    if not store.root.is_dir():
        raise PocError(f"store not found: {store.root}")
    found = _records(store, scan or store.scan(), recipe)
    if not found:
        raise PocError(f"nothing to export: no records in {store.root}" + (f" for recipe {recipe!r}" if recipe else ""))

    client = MlflowClient(tracking_uri=where.uri)
    done = Exported(tracking=where)
    experiment_ids: dict[str, str] = {}  # looked up (or created) once per experiment, not per record
    for record, path in found:
        name = experiment or record.recipe_name
        if name not in experiment_ids:
            known = client.get_experiment_by_name(name)
            experiment_ids[name] = known.experiment_id if known is not None else client.create_experiment(
                name, artifact_location=None if where.artifacts is None else f"{where.artifacts}/{_slug(name)}")
        experiment_id = experiment_ids[name]
        done.experiments.add(name)
        existing = client.search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{record.job_id}'",
                                      max_results=1)
        if existing and existing[0].data.tags.get("poc.attempt") == record.attempt:
            done.unchanged.append(record.job_id)
            continue
        run_id = existing[0].info.run_id if existing else client.create_run(
            experiment_id, run_name=_run_name(record)).info.run_id
        stamp = int(os.path.getmtime(path) * 1000)
        client.log_batch(run_id,
                         metrics=[Metric(k, v, stamp, 0) for k, v in metrics(record).items()],
                         params=[] if existing else [Param(k, v) for k, v in params(record).items()],
                         tags=[RunTag(k, v) for k, v in tags(record).items()])
        client.log_artifact(run_id, str(path), artifact_path="record")
        adapter = record.adapter.path
        if adapter and Path(adapter).is_dir():
            client.log_artifacts(run_id, adapter, artifact_path="adapter")
        for lang in ("en", "ja"):
            report = default_output("html", lang, record.recipe_name)
            if report.is_file():
                client.log_artifact(run_id, str(report), artifact_path="report")
        client.set_terminated(run_id, status="FINISHED" if record.status in FINISHED else "FAILED")
        (done.updated if existing else done.created).append(record.job_id)
    return done
