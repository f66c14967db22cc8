"""The bitsandbytes check runs its layers in a process of its own, and says why they could not run."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from poc_cli.bitsandbytes_check import bitsandbytes_problem


def test_a_bitsandbytes_whose_layers_cannot_run_is_named(bitsandbytes_stand_in: tuple[dict[str, str], Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in imports (as a broken install would) but has no layers: the import alone would pass."""
    env, marker = bitsandbytes_stand_in
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    bitsandbytes_problem.cache_clear()
    problem = bitsandbytes_problem(0) or ""
    assert problem.startswith("bitsandbytes' 4- and 8-bit layers failed on cuda:0 (")
    assert marker.is_file() and str(os.getpid()) not in marker.read_text()  # imported by the check's own process


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed here")
def test_no_bitsandbytes_names_the_extra() -> None:
    bitsandbytes_problem.cache_clear()
    assert bitsandbytes_problem(0) == "bitsandbytes is not installed: pip install 'poc-cli[gpu]'"
