"""Stores written by every record schema poc has had are read, compared and reported as they were.

`fixtures/stores/schema-N/` is a real store written by the last commit at schema N (1: 2bf89d0^,
2: c584871^, 3: 4047168^, 4: 1b7a5da^, 5: 94bf0e8^, 6: a3b04c7, 7: b626095, 8: this schema), each running the same
recipe: the tiny BERT of conftest (seed 0 weights), 96 train and 40 test examples of
`make_examples`, LoRA, RandLoRA and full fine-tuning at LoRA rank 4's budget, seeds 0 and 1.
Only the records are kept (no adapters or logs). `schema-N.compare.json` and `.csv` are what
`poc compare --json` and `--csv` printed for that store when the fixtures were made: reading the
records in another way must not change a byte of either. Compare's rows gained fields since, each the
same (null, its CSV columns empty) for every store without them: `steady_s` and `warmup_s` (schema 8's
steady-state training time and warm-up), and a forecasting recipe's classical rows' `fit_s`, `fit_cpu_s`,
`series_short`, `series_fell_back` and each method's `planners` check, and `serving` (`serving_*` in CSV: what
each method costs to serve, measured since issue 43); every other byte is as printed then.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poc_cli.cli import app
from poc_cli.plan import job_id
from poc_cli.records.record import SCHEMA_VERSION, read_record
from poc_cli.records.status import Stage, Status
from poc_cli.records.upgrade import JOB_COPIES, PARAMETER_COPIES
from poc_cli.result import Record
from poc_cli.store import Store, load_frame

FIXTURES = Path(__file__).parent / "fixtures" / "stores"
VERSIONS = range(1, 9)
runner = CliRunner()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_record_of_each_schema_is_read(version: int) -> None:
    store = FIXTURES / f"schema-{version}"
    scan = Store(store).scan()
    assert scan.skipped == [] and len(scan.records) == 6
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((store / "legacy").glob("*.json"))]
    assert len(records) == 6 and {r["schema_version"] for r in records} == {version}
    frame = load_frame(store)
    assert len(frame) == 6 and set(frame["method"]) == {"lora", "randlora", "full"}
    assert set(frame["status"]) == {"ok"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_compare_prints_what_it_printed_when_the_store_was_written(version: int, flag: str) -> None:
    result = runner.invoke(app, ["compare", "--store", str(FIXTURES / f"schema-{version}"), flag])
    assert result.exit_code == 0, result.output
    expected = (FIXTURES / f"schema-{version}.compare.{flag[2:]}").read_text(encoding="utf-8")
    assert result.stdout == expected


@pytest.mark.parametrize("version", [1, 3, 6, 7, 8])
def test_the_report_reads_each_schema(version: int, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / f"schema-{version}", store)
    output = tmp_path / "report.md"
    result = runner.invoke(app, ["report", "--store", str(store), "--format", "md", "--output", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "from 6 stored runs" in text and "RandLoRA" in text and "Full fine-tuning" in text


@pytest.mark.parametrize("version", VERSIONS)
def test_every_schema_reads_as_today_s_with_one_copy_of_the_plan(version: int) -> None:
    """Whatever schema wrote it, a record reads with one copy of the training settings (the job's
    recipe, with the settings added later at the value every job ran with then) and of the planned
    parameter counts (the allocation); from schema 3, when the job's identity took its final shape,
    the job's id is recomputed from what the record keeps."""
    for path in sorted((FIXTURES / f"schema-{version}" / "legacy").glob("*.json")):
        stored = json.loads(path.read_text(encoding="utf-8"))
        record = read_record(stored)
        job = record.job.model_dump(exclude_unset=True)
        assert not set(job) & set(JOB_COPIES), sorted(job)
        assert set(record.parameters.model_dump(exclude_unset=True)) == {
            "trainable_counted", "trainable_effective", "without_gradient"}
        assert not set(record.parameters.model_dump()) & set(PARAMETER_COPIES)
        training = record.job.recipe.training
        assert (training.precision, training.gradient_accumulation_steps, training.quantization) == ("fp32", 1, "none")
        assert (training.epochs, training.batch_size, training.max_length) == (2, 16, 16)
        assert record.job.allocation.budget == 3328 and record.task.primary.name == "accuracy"
        assert record.parameters.trainable_counted == (record.job.allocation.adapter_parameters
                                                       + record.job.allocation.head_parameters)
        if version >= 3:
            assert job_id(job) == record.job_id
        if version == SCHEMA_VERSION:
            assert record.stored() == stored  # today's records are read back exactly as written


def test_a_section_of_the_wrong_shape_is_refused_when_written_and_when_read() -> None:
    """The worker writes through the same typed sections every reader reads: a number stored as text
    fails the write, naming the field, and a file holding one is skipped on read with the same name."""
    stored = json.loads(next((FIXTURES / f"schema-{SCHEMA_VERSION}" / "legacy").glob("*.json")).read_text())
    fields = {k: v for k, v in stored.items() if k not in {"status", "stage"}}
    record = Record(**fields | {"status": Status(stored["status"]), "stage": Stage(stored["stage"]),
                                "timing": {**stored["timing"], "train_s": "fast"}})
    with pytest.raises(ValueError, match="timing.train_s"):
        record.to_dict()
    with pytest.raises(ValueError, match="^timing.train_s: "):
        read_record({**stored, "timing": {**stored["timing"], "train_s": "fast"}})
