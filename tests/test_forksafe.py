"""Fork safety: the job server never initialises CUDA nor imports bitsandbytes, which initialises it.

This machine has no GPU, so CUDA itself cannot be initialised here; what can be checked is what
would initialise it. bitsandbytes is the gpu extra's and is not installed here: a stand-in
package of that name, put first on PYTHONPATH, records every process that imports it, so any
import path from the job server or from `compare` and `report` to it shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from poc_cli import forksafe

PROBE = "import json; from poc_cli.processes import probe_server; print(json.dumps(probe_server()))"


def _probe(env: dict[str, str]) -> dict[str, bool]:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_job_server_preloads_peft_where_that_imports_no_bitsandbytes() -> None:
    state = _probe({**os.environ})
    assert state == {"cuda_initialized_in_server": False, "bitsandbytes_in_server": False, "peft_preloaded": True,
                     "nvml_based_cuda_check": True, "bad_fork": False}


def test_with_bitsandbytes_installed_the_job_server_leaves_peft_to_the_job(
        bitsandbytes_stand_in: tuple[dict[str, str], Path]) -> None:
    """peft before 0.22 imports bitsandbytes where it is installed (0.22 waits until it builds a model), and
    importing bitsandbytes initialises CUDA: the server then preloads the worker without peft, whichever
    peft is installed, and never imports bitsandbytes."""
    env, marker = bitsandbytes_stand_in
    check = subprocess.run([sys.executable, "-c", "import bitsandbytes"], env=env, capture_output=True, timeout=300)
    assert check.returncode == 0 and marker.is_file()  # the stand-in is what `import bitsandbytes` finds
    marker.unlink()
    state = _probe(env)
    assert state["bitsandbytes_in_server"] is False and state["peft_preloaded"] is False
    assert state["cuda_initialized_in_server"] is False and state["nvml_based_cuda_check"] is True
    assert not marker.exists(), "the job server or its probe imported bitsandbytes"


def test_compare_and_report_never_import_bitsandbytes(tiny_store: Path, tmp_path: Path,
                                                      bitsandbytes_stand_in: tuple[dict[str, str], Path]) -> None:
    """With the gpu extra installed and no network, importing bitsandbytes prints lines about kernels it
    cannot fetch: reading records must not import it."""
    env, marker = bitsandbytes_stand_in
    for args in (["compare", "--store", str(tiny_store), "--recipe", "tiny"],
                 ["report", "--store", str(tiny_store), "--recipe", "tiny", "--output", str(tmp_path / "r.html")]):
        result = subprocess.run([sys.executable, "-m", "poc_cli", *args], capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not marker.exists(), f"poc {args[0]} imported bitsandbytes"


def test_a_job_forked_from_a_server_that_initialised_cuda_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert forksafe.problem() is None
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: True)  # what torch says in such a child
    problem = forksafe.problem() or ""
    assert problem.startswith("CUDA was initialised in poc's job server before this job was forked from it")
    assert "\n" not in problem and "poc doctor --gpu" in problem
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: False)
    monkeypatch.setitem(forksafe.AT_PRELOAD, "cuda_initialized", True)
    monkeypatch.setitem(forksafe.AT_PRELOAD, "bitsandbytes", True)
    assert "(bitsandbytes was imported there)" in (forksafe.problem() or "")
