"""Stores written by every record schema poc has had are read, compared and reported as they were.

`fixtures/stores/schema-N/` is a real store written by the last commit at schema N (1: 2bf89d0^,
2: c584871^, 3: 4047168^, 4: 1b7a5da^, 5: 94bf0e8^, 6: this schema), each running the same
recipe: the tiny BERT of conftest (seed 0 weights), 96 train and 40 test examples of
`make_examples`, LoRA, RandLoRA and full fine-tuning at LoRA rank 4's budget, seeds 0 and 1.
Only the records are kept (no adapters or logs). `schema-N.compare.json` and `.csv` are what
`poc compare --json` and `--csv` printed for that store when the fixtures were made: reading the
records in another way must not change a byte of either.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poc_cli.cli import app
from poc_cli.store import Store, load_frame

FIXTURES = Path(__file__).parent / "fixtures" / "stores"
VERSIONS = range(1, 7)
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


@pytest.mark.parametrize("version", [1, 3, 6])
def test_the_report_reads_each_schema(version: int, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(FIXTURES / f"schema-{version}", store)
    output = tmp_path / "report.md"
    result = runner.invoke(app, ["report", "--store", str(store), "--format", "md", "--output", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "from 6 stored runs" in text and "RandLoRA" in text and "Full fine-tuning" in text
