"""What to do about a job that did not finish: "run again" only where a rerun can help.

A rerun resumes what was cut short from outside (Ctrl-C, a full disk once space is freed); it
repeats, at the same cost, what the job's own setting or data caused (a timeout, running out of
memory, an error in the data or model). Those say what to change instead.
"""

from __future__ import annotations

import re

from poc_cli.paths import DISK_FULL, NOT_OURS
from poc_cli.records.status import Status

RANK_FAILED = re.compile(r"rank \d+ of \d+: ")  # rank_records.across_ranks's error


def advice(status: Status, error: str | None) -> str:
    """One clause for the user, for a job that ended with `status` and `error`."""
    error = error or ""
    if NOT_OURS in error:
        return "something that is not poc's stands where the job's record goes (named in its note): move it away, then run again"
    if status is Status.INTERRUPTED:
        return "run the same command again to resume"
    if status is Status.TIMEOUT:
        return "raise training.timeout_minutes or shorten the training; as it is, a rerun would time out again"
    if status is Status.OOM:
        return "lower training.batch_size or training.max_length; as it is, a rerun would run out of memory again"
    if status is Status.DIVERGED:
        return "lower the learning rate; a rerun would diverge again"
    if DISK_FULL in error:
        return "free space on the store's disk, then run the same command again"
    if RANK_FAILED.match(error):
        return ("a rank of the job across GPUs failed, and the others with it (its log is beside the job's, "
                "<job>.rank<k>.log): where it was killed or lost its GPU, run again; else change what its error names")
    if "killed by signal" in error:
        return ("the job was killed from outside (by the out-of-memory killer, if signal 9): free memory or lower "
                "training.batch_size, then run again")
    return "a rerun would fail the same way: change what the error names (the job's log has the details)"
