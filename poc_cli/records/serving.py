"""The record's `serving` section: what the trained model costs to serve, measured in the job after
training on the test split (see `poc_cli/serving.py`; absent in records written before issue 43).

A method that merges (LoRA, RandLoRA, DoRA, VeRA) is measured twice, merged into the base and as an
unmerged adapter; full fine-tuning and an untrained reference serve the model itself (`merged` only).
"""

from __future__ import annotations

from typing import Literal

from poc_cli.records.sections import Num, Section

MergeStatus = Literal["exact", "inexact", "cannot merge", "nothing to merge"]
ConversionStatus = Literal["is LoRA", "converted", "cannot convert", "not measured"]


class Speed(Section):
    """Steady-state figures (the first request and the first batch untimed), and how many were timed."""

    latency_ms: Num | None = None  # median of the batch-1 requests
    throughput_per_s: Num | None = None  # examples per second at the evaluation batch
    requests: int | None = None
    batches: int | None = None


class MergeCheck(Section):
    """Whether the merged model answers as the adapter did, on one test batch: the largest output
    difference relative to the largest output, against `tolerance`; the answers that changed."""

    status: MergeStatus
    max_relative_difference: Num | None = None
    tolerance: Num | None = None
    answers_changed: int | None = None
    answers_compared: int | None = None
    merged_dtype: str | None = None  # the dtype of the weights the update was merged into
    reason: str | None = None


class LoraConversion(Section):
    """The adapter as a multi-LoRA server would serve it: converted by `peft.convert_to_lora` at LoRA's
    rank for the PoC's budget, scored on the same test split (`difference`: converted minus original)."""

    status: ConversionStatus
    rank: int | None = None
    bytes: int | None = None
    metric: str | None = None
    score: Num | None = None
    difference: Num | None = None
    reason: str | None = None


class Serving(Section):
    """What serving the job's model costs, on the device the job ran on."""

    device: str
    batch_size: int  # the evaluation batch the throughput is measured at
    seconds: Num | None = None  # wall time of the whole measurement, the conversion to LoRA included
    merged: Speed | None = None  # the model with the update in its weights (or the model itself)
    unmerged: Speed | None = None  # the base with the adapter beside it (None: nothing to merge)
    merge: MergeCheck
    weights_mib: Num  # the served model's tensors in memory, merged (one model per task)
    adapter_mib: Num | None = None  # the adapter's tensors in memory (what each further task adds unmerged)
    peak_allocated_mib: Num | None = None  # torch's peak while serving (GPU only)
    adapter_bytes: int | None = None  # on disk, as poc saved it
    adapter_bytes_with_bases: int | None = None  # saved with its frozen random bases (RandLoRA, VeRA)
    default_saves_bases: bool | None = None  # whether peft's default save writes those bases
    lora: LoraConversion | None = None
