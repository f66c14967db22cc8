"""Nothing that is not poc's is overwritten, nothing waits long on what does not answer, and libraries
stay quiet: real `poc` processes, real special files, a real server that never answers.

The one-line errors themselves are in test_bad_inputs.py's corpus; here is what must hold around them:
the device node, link target or pipe is untouched afterwards, the lock file's link target too, and the
time an unreachable tracking store costs."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import recipe_dict, write_recipe

POC = [sys.executable, "-m", "poc_cli"]
ENV = {**os.environ, "COLUMNS": "250"}


def poc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POC, *args], capture_output=True, text=True, env=env or ENV, cwd=cwd, timeout=timeout)


def test_no_report_replaces_a_device_a_link_or_a_pipe(tiny_store: Path, tmp_path: Path) -> None:
    """As root (containers run as root) a rename replaces anything: `--output /dev/full` once turned the
    device into a file. Each special path is refused and is what it was afterwards."""
    target = tmp_path / "shared.html"
    target.write_text("someone else's report\n")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    pipe = tmp_path / "pipe.html"
    os.mkfifo(pipe)
    for output, fmt in (("/dev/full", "pdf"), ("/dev/null", "html"), (str(link), "html"), (str(pipe), "html")):
        done = poc("report", "--store", str(tiny_store), "--format", fmt, "--output", output)
        assert done.returncode == 2 and done.stderr.startswith(f"error: --output: {output} is "), done.stderr
        assert "report written" not in done.stdout
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and target.read_text() == "someone else's report\n"
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.html", "pipe.html", "shared.html"]  # no temp left


def test_a_lock_file_that_is_a_link_is_refused_and_what_it_names_is_untouched(
        tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    """`poc run` writes its PID into the recipe's lock file: through a planted link it would truncate
    whatever the link names (as root, /etc/passwd as readily)."""
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, methods=[{"method": "lora",
                                                                                              "lr": 1e-2}]))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "store" / "tiny").mkdir(parents=True)
    (tmp_path / "store" / "tiny" / ".lock").symlink_to(victim)
    done = poc("run", str(recipe), "--store", str(tmp_path / "store"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "the lock file" in done.stderr and "a symbolic link there is refused" in done.stderr
    assert victim.read_text() == "precious\n"


def test_a_link_where_a_record_goes_is_left_and_the_run_says_so(tmp_path: Path, tiny_model_dir: Path,
                                                                   tiny_data: dict[str, Path]) -> None:
    """The driver renames each record into the store: over a link planted at a record's path it would
    replace the link. The job's record is not written, the link and what it names stay, and the run
    exits 1 naming what to move (no traceback, no record claimed as stored)."""
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, methods=[{"method": "lora",
                                                                                              "lr": 1e-2}]))
    planned = poc("plan", str(recipe), "--json", "--no-estimate")
    job_id = json.loads(planned.stdout)["runs"][0]["id"]
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = tmp_path / "store" / "tiny"
    folder.mkdir(parents=True)
    (folder / f"{job_id}.json").symlink_to(victim)
    done = poc("run", str(recipe), "--store", str(tmp_path / "store"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "1 of 1 seeded run(s) did not finish" in done.stderr and "move it away, then run again" in done.stderr
    assert "is a symbolic link" in done.stdout and (folder / f"{job_id}.json").is_symlink()
    assert victim.read_text() == "precious\n"


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers (a hung tracking server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_tracking_server_that_never_answers_is_said_within_seconds(tiny_store: Path, silent_server: str) -> None:
    """MLflow would retry for about four minutes; poc asks the server once, waits 5 s, and says so."""
    started = time.monotonic()
    done = poc("export", "mlflow", "--store", str(tiny_store), "--tracking-uri", silent_server)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"error: --tracking-uri: no MLflow server answered at {silent_server} within 5 s "
                                   "(timed out); start it (mlflow server ...), or export to a database: "
                                   "--tracking-uri sqlite:///mlflow.db")
    assert took < 5 + 20  # the 5 s wait, and poc's own start-up


def test_the_default_database_in_a_read_only_folder_is_said_at_once(tiny_store: Path, tmp_path: Path) -> None:
    """Exported from a folder on a read-only file system with the default sqlite:///mlflow.db, MLflow
    retried for 110 s, printed 37 lines and blamed --tracking-uri, which was never given."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("a read-only file system cannot be mounted here (not root, or no mount namespace); root ignores "
                    "a folder's permission bits, so only a read-only mount shows the case")
    try:
        started = time.monotonic()
        done = poc("export", "mlflow", "--store", str(tiny_store), cwd=folder)
        took = time.monotonic() - started
    finally:
        subprocess.run(["umount", str(folder)], check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"error: the default tracking store (sqlite:///mlflow.db): {folder}/mlflow.db "
                                   "cannot be written (Read-only file system)")
    assert took < 20


def test_a_peft_tuner_plans_without_a_word_from_bitsandbytes(tmp_path: Path, tiny_model_dir: Path,
                                                              tiny_data: dict[str, Path]) -> None:
    """Where bitsandbytes is installed, importing it logs a warning about a CPU kernel it could not fetch
    (bitsandbytes 0.50 does, through the logger of `bitsandbytes.backends.cpu.ops`), and the kernels
    package (which it calls) one about a trust check it skipped. A stand-in bitsandbytes logs both the same
    way: `poc plan` of a peft tuner, which imports peft and so bitsandbytes, prints nothing of it."""
    site = tmp_path / "site"
    (site / "bitsandbytes").mkdir(parents=True)
    (site / "bitsandbytes" / "__init__.py").write_text(
        "import logging\n"
        "logging.getLogger('kernels._internals.hf_hub').warning('Skipping publisher trust check')\n"
        "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('Failed to load CPU gemm_4bit_forward')\n")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    loud = subprocess.run([sys.executable, "-c", "import bitsandbytes"], capture_output=True, text=True, env=env)
    assert "Failed to load CPU gemm_4bit_forward" in loud.stderr  # the stand-in speaks as the real one
    recipe = write_recipe(tmp_path / "r.yaml", recipe_dict(tiny_model_dir, tiny_data, methods=[
        {"method": "peft", "config": "LoHaConfig", "knob": "r", "lr": 1e-2, "off_budget": True}]))
    done = poc("plan", str(recipe), "--no-estimate", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
