"""How a job ended, and which stage of `poc run` it belongs to."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """How a job ended."""

    OK = "ok"
    FAILED = "failed"
    OOM = "oom"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"  # loss went non-finite or exploded: stopped early, final (a rerun would repeat it)


FINISHED = (Status.OK, Status.DIVERGED)  # what a rerun skips


class Stage(str, Enum):
    """Which stage of `poc run` a job belongs to."""

    TRIAL = "trial"  # a search trial: trains, scores on validation only, saves nothing
    RUN = "run"  # a seeded run at the method's chosen setting, scored on test
