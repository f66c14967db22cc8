"""Where poc writes: a store or report on a read-only disk is one line before anything runs, and a
disk that fills up during a job stops the run with one line, leaves no 0-byte or half-written file,
and a rerun after freeing space completes the job. Real `poc` processes on a real small tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import recipe_dict, write_recipe

POC = [sys.executable, "-m", "poc_cli"]
ENV = {**os.environ, "COLUMNS": "250"}


def poc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POC, *args], capture_output=True, text=True, env=ENV, timeout=600)


def _mount(target: Path, options: str) -> None:
    target.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root with CAP_SYS_ADMIN: {done.stderr.strip()}")


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    _mount(mount, "size=1m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture()
def read_only(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "read-only"
    _mount(mount, "ro,size=64k")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` up to `leave` bytes free."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as fh:
        fh.write(b"\0" * (free - leave))
    return filler


def test_a_read_only_store_or_output_is_one_line_before_anything_runs(
    read_only: Path, tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]
) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data))
    for args, option in ((("run", str(recipe), "--store", str(read_only / "store")), "--store"),
                         (("report", "--store", str(tmp_path), "--output", str(read_only / "r.html")), "--output")):
        result = poc(*args)
        assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: {option}: {args[-1]} cannot be written "
            "(Read-only file system)"]


def test_a_full_disk_during_a_job_stops_cleanly_and_a_rerun_completes(
    disk: Path, tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]
) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(
        tiny_model_dir, tiny_data, methods=[{"method": "lora"}, {"method": "full"}],
        training={"steps": 6, "batch_size": 16, "max_length": 16}))
    store = disk / "store"
    filler = fill(disk, leave=48 * 1024)  # room for a log, an adapter and (here) a small record, not two records
    result = poc("run", str(recipe), "--store", str(store))
    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --store: the disk holding {store} is full; free some space and run the same command again "
        "(it resumes where this run stopped)")
    left = [p for p in store.rglob("*") if p.is_file()]
    assert all(p.stat().st_size > 0 for p in left), left  # no 0-byte file
    assert not [p for p in left if p.name.endswith(".tmp")]  # no half-written record
    for adapter in (store / "tiny" / "adapters").glob("*"):  # an adapter is whole or absent
        assert {p.name for p in adapter.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    records = [json.loads(p.read_text()) for p in (store / "tiny").glob("*.json")]
    assert len(records) <= 1  # the run stopped at the first job: the second never started
    for record in records:  # a record that could be written says why the job failed
        assert record["status"] == "failed" and "the disk is full" in record["error"], record["error"]

    filler.unlink()  # space freed: the same command completes what is missing
    rerun = poc("run", str(recipe), "--store", str(store))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {json.loads(p.read_text())["status"] for p in (store / "tiny").glob("*.json")} == {"ok"}
    assert len(list((store / "tiny").glob("*.json"))) == 2
