"""A corpus of bad inputs, each tried as a careless or hostile user would: a real `poc` process.

Every case must end with exit 2 (a usage or recipe error), one line on stderr that names the
field, option or file first, nothing on stdout and no traceback. The categories follow the
ways such input reached users before: unreadable files, YAML tricks, unknown or missing keys,
absurd numbers, seeds, checks that once needed the model loaded, paths, and options.
"""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from conftest import recipe_dict
from forked_cli import poc_many

ENV = {**os.environ, "COLUMNS": "250"}
MAX_LINE = 300  # recipe.MAX_LINE, plus the temporary folder's path below
Recipe = dict[str, Any]


def base(model: Path, data: dict[str, Path]) -> Recipe:
    """A valid recipe that plans in seconds: the tiny model, one method."""
    return recipe_dict(model, data, methods=[{"method": "lora", "lr": 1e-2}])


def setting(path: str, value: Any) -> Callable[[Recipe], Recipe]:
    """A mutation of the base recipe: `path` (dotted; list items by index) set to `value`."""
    def apply(recipe: Recipe) -> Recipe:
        out = copy.deepcopy(recipe)
        *parents, last = path.split(".")
        node: Any = out
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return out
    return apply


def dropping(key: str) -> Callable[[Recipe], Recipe]:
    def apply(recipe: Recipe) -> Recipe:
        return {k: v for k, v in recipe.items() if k != key}
    return apply


@dataclass(frozen=True)
class Bad:
    """One bad input: how it is given, and what its error line must name."""

    category: str
    name: str
    names: str  # the field, option or file the line must contain
    recipe: Callable[[Recipe], Recipe] | str | bytes | None = None  # a mutation, raw YAML text, raw bytes
    argv: tuple[str, ...] = ("plan", "{recipe}", "--no-estimate")
    code: int = 2


def deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_mapping(levels: int) -> str:
    return "description:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(levels)) + "  " * (levels + 1) + "b: 1\n"


LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))

CASES = [
    # The recipe file itself.
    Bad("file", "missing recipe file", "nope.yaml", argv=("plan", "{dir}/nope.yaml")),
    Bad("file", "a folder given as the recipe", "a folder", argv=("plan", "{dir}")),
    Bad("file", "not UTF-8", "UTF-8", recipe=b"name: caf\xe9\nmodel: m\n"),
    Bad("file", "a PNG given as the recipe", "UTF-8", recipe=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    Bad("file", "empty file", "a recipe is a YAML mapping", recipe=""),
    Bad("file", "a YAML list, not a mapping", "a recipe is a YAML mapping", recipe="- name: x\n- model: y\n"),
    Bad("file", "a bare string", "a recipe is a YAML mapping", recipe="just some words\n"),
    Bad("file", "a recipe saved as UTF-16 (Notepad's Unicode)", "UTF-16 byte-order mark",
        recipe="name: x\nmodel: m\n".encode("utf-16")),
    Bad("file", "a device as the recipe", "/dev/zero: a character device, not a recipe file", argv=("plan", "/dev/zero")),
    Bad("file", "a named pipe as the recipe", "fifo.yaml: a named pipe, not a recipe file",
        argv=("plan", "{dir}/fifo.yaml")),
    Bad("file", "a 2 MB recipe", "bytes; a recipe is a few kilobytes", recipe="name: x\n" + "# " + "x" * 2_000_000),
    # YAML tricks.
    Bad("yaml", "unclosed bracket", "not valid YAML at line", recipe="name: [unclosed\nmodel: m\n"),
    Bad("yaml", "tab indentation", "not valid YAML", recipe="name: x\ndata:\n\ttrain: a\n"),
    Bad("yaml", "duplicate top-level key", "'name' is given twice", recipe="{base}name: again\n"),
    Bad("yaml", "duplicate nested key", "'max_new_tokens' is given twice",
        recipe="{base}evaluation:\n  max_new_tokens: 4\n  max_new_tokens: 8\n"),
    Bad("yaml", "a list nested 3,000 deep", "nested more than 16 levels", recipe="name: x\nextra: " + deep_list(3000)),
    Bad("yaml", "a mapping nested 40 deep", "description.a.a", recipe=deep_mapping(40)),
    Bad("yaml", "aliases expanding to 387 million values", "more than 100,000 values", recipe="{base}" + LAUGHS),
    Bad("yaml", "a one-megabyte name", "name: String should have at most 200 characters",
        recipe=setting("name", "x" * 1_000_000)),
    # Keys that are unknown, missing, or contradict each other.
    Bad("keys", "unknown top-level key", "unknown key 'epochs'", recipe=setting("epochs", 3)),
    Bad("keys", "misspelt nested key", "training: unknown key 'epoch'", recipe=setting("training.epoch", 3)),
    Bad("keys", "no model", "model: Field required", recipe=dropping("model")),
    Bad("keys", "no data", "data: Field required", recipe=dropping("data")),
    Bad("keys", "no methods", "methods: List should have at least 1 item", recipe=setting("methods", [])),
    Bad("keys", "unknown method", "methods.0", recipe=setting("methods.0.method", "qlora")),
    Bad("keys", "unknown task", "task: unknown task 'image-segmentation'", recipe=setting("task", "image-segmentation")),
    Bad("keys", "empty name", "name: String should have at least 1 character", recipe=setting("name", "")),
    Bad("keys", "test file and test_fraction", "data: give either 'test'", recipe=setting("data.test_fraction", 0.2)),
    Bad("keys", "no test split", "a test split is required", recipe=setting("data", {"train": "t.jsonl"})),
    Bad("keys", "both budget targets", "budget: give exactly one", recipe=setting("budget.parameters", 1000)),
    Bad("keys", "two methods with one name", "two methods are named 'lora'",
        recipe=setting("methods", [{"method": "lora"}, {"method": "lora"}])),
    Bad("keys", "baseline not a method", "report.baseline", recipe=setting("report", {"baseline": "dora"})),
    Bad("keys", "unknown time zone", "report.timezone", recipe=setting("report", {"timezone": "Mars/Olympus"})),
    Bad("keys", "JPY without a price in JPY", "cost: currency 'JPY' needs gpu_hourly_price",
        recipe=setting("cost", {"currency": "JPY"})),
    Bad("keys", "search metric the task lacks", "search.metric",  # a searched method has no fixed lr
        recipe=lambda r: setting("search", {"metric": "bleu"})(setting("methods", [{"method": "lora"}])(r))),
    Bad("keys", "fixed lr while searching", "methods.0.lr: fixed while 'search' is on", recipe=setting("search", True)),
    Bad("keys", "an image field on a text task", "data.image_column", recipe=setting("data.image_column", "img")),
    Bad("keys", "a device that is none", "training.device: 'gpu' is not a device",
        recipe=setting("training.device", "gpu")),
    Bad("keys", "a precision that is none", "training.precision: Input should be 'auto'",
        recipe=setting("training.precision", "fp8")),
    Bad("keys", "checkpointing as a word", "training.gradient_checkpointing: Input should be a valid boolean",
        recipe=setting("training.gradient_checkpointing", "yes")),
    Bad("numbers", "accumulation of 0 batches", "training.gradient_accumulation_steps: Input should be greater",
        recipe=setting("training.gradient_accumulation_steps", 0)),
    # Numbers: non-finite, absurd, or of the wrong type.
    Bad("numbers", "lr .inf", "methods.0.lr: Input should be a finite number",
        recipe=setting("methods.0.lr", float("inf"))),
    Bad("numbers", "lr .nan", "methods.0.lr: Input should be a finite number",
        recipe=setting("methods.0.lr", float("nan"))),
    Bad("numbers", "lr 1e300", "methods.0.lr: Input should be less than or equal to 1", recipe=setting("methods.0.lr", 1e300)),
    Bad("numbers", "lr 5", "methods.0.lr: Input should be less than or equal to 1", recipe=setting("methods.0.lr", 5)),
    Bad("numbers", "lr true", "methods.0.lr: a number is expected", recipe=setting("methods.0.lr", True)),
    Bad("numbers", "lr as words", "methods.0.lr", recipe=setting("methods.0.lr", "fast")),
    Bad("numbers", "epochs 1e30", "training.epochs: Input should be a valid integer", recipe=setting("training.epochs", 1e30)),
    Bad("numbers", "epochs 0", "training.epochs: Input should be greater than or equal to 1",
        recipe=setting("training.epochs", 0)),
    Bad("numbers", "epochs 100,000", "training.epochs: Input should be less than or equal to 1000",
        recipe=setting("training.epochs", 100_000)),
    Bad("numbers", "epochs and steps", "training: give either 'epochs' or 'steps'", recipe=setting("training.steps", 10)),
    Bad("numbers", "batch size 1e12", "training.batch_size: Input should be less than or equal to 65536",
        recipe=setting("training.batch_size", 10**12)),
    Bad("numbers", "batch size true", "training.batch_size: Input should be a valid integer",
        recipe=setting("training.batch_size", True)),
    Bad("numbers", "max_length 100,000", "training.max_length", recipe=setting("training.max_length", 100_000)),
    Bad("numbers", "dropout 1", "methods.0.dropout", recipe=setting("methods.0.dropout", 1)),
    Bad("numbers", "negative alpha_ratio", "methods.0.alpha_ratio", recipe=setting("methods.0.alpha_ratio", -2)),
    Bad("numbers", "rank 3.5", "methods.0.r: Input should be a valid integer", recipe=setting("methods.0.r", 3.5)),
    Bad("numbers", "weight decay .inf", "training.weight_decay", recipe=setting("training.weight_decay", float("inf"))),
    Bad("numbers", "negative timeout", "training.timeout_minutes", recipe=setting("training.timeout_minutes", -1)),
    Bad("numbers", "negative GPU price", "cost.gpu_hourly_price", recipe=setting("cost", {"gpu_hourly_price": -1})),
    Bad("numbers", "cost of a miss .nan", "business.cost_missed: Input should be a finite number",
        recipe=setting("business", {"positive_class": "positive", "cost_missed": float("nan"), "cost_false_alarm": 1,
                                    "monthly_items": 10, "minutes_per_item": 1, "hourly_rate": 1})),
    Bad("numbers", "monthly items true", "business.monthly_items",
        recipe=setting("business", {"positive_class": "positive", "cost_missed": 1, "cost_false_alarm": 1,
                                    "monthly_items": True, "minutes_per_item": 1, "hourly_rate": 1})),
    Bad("numbers", "a budget of 0 parameters", "budget.parameters", recipe=setting("budget", {"parameters": 0})),
    Bad("numbers", "a cap of 0 examples", "data.max_train_examples", recipe=setting("data.max_train_examples", 0)),
    Bad("numbers", "test_fraction 1.5", "data.test_fraction",
        recipe=setting("data", {"train": "t.jsonl", "test_fraction": 1.5})),
    # Seeds: unsigned 32-bit integers, not booleans.
    Bad("seeds", "seed true", "seeds.0: Input should be a valid integer", recipe=setting("seeds", [True])),
    Bad("seeds", "seed -1", "seeds.0: Input should be greater than or equal to 0", recipe=setting("seeds", [-1])),
    Bad("seeds", "seed 2^32", "seeds.0: Input should be less than or equal to 4294967295",
        recipe=setting("seeds", [2**32])),
    Bad("seeds", "seed as text", "seeds.0: Input should be a valid integer", recipe=setting("seeds", ["1"])),
    Bad("seeds", "repeated seeds", "seeds must be distinct", recipe=setting("seeds", [0, 0])),
    Bad("seeds", "no seeds", "seeds: List should have at least 1 item", recipe=setting("seeds", [])),
    Bad("seeds", "split_seed -1 with a cap", "data.split_seed",
        recipe=lambda r: setting("data.max_train_examples", 10)(setting("data.split_seed", -1)(r))),
    Bad("seeds", "search seed true", "search.seed", recipe=lambda r: setting("search", {"seed": True})(
        setting("methods.0", {"method": "lora"})(r))),
    Bad("seeds", "bases seed 2^40", "methods.0.projection_prng_key",
        recipe=setting("methods.0", {"method": "randlora", "projection_prng_key": 2**40})),
    # What `run` used to find only after loading the model or training.
    Bad("plan", "max_length beyond the model's 64 positions", "training.max_length: 1000 tokens is more than",
        recipe=setting("training.max_length", 1000)),
    Bad("plan", "cuda on a machine without it", "training.device: 'cuda' asked for",
        recipe=setting("training.device", "cuda")),
    Bad("plan", "cuda:1 on a machine without CUDA", "training.device: 'cuda:1' asked for",
        recipe=setting("training.device", "cuda:1")),
    Bad("plan", "fp16-mixed on CPU", "training.precision: fp16-mixed needs a CUDA GPU",
        recipe=setting("training.precision", "fp16-mixed")),
    Bad("plan", "a 4-bit base without a GPU", "training.quantization: nf4 needs an NVIDIA GPU",
        recipe=setting("training.quantization", "nf4")),
    Bad("plan", "full fine-tuning on an 8-bit base", "training.quantization: int8 freezes the base model in 8 bits, "
        "but method 'full' trains every weight",
        recipe=lambda r: setting("methods", [{"method": "lora", "lr": 1e-2}, {"method": "full", "lr": 1e-4}])(
            setting("training.quantization", "int8")(r))),
    Bad("plan", "positive class that is not a label", "business.positive_class: 'maybe' is not a label",
        recipe=setting("business", {"positive_class": "maybe", "cost_missed": 1, "cost_false_alarm": 1,
                                    "monthly_items": 10, "minutes_per_item": 1, "hourly_rate": 1})),
    Bad("plan", "batch larger than the train split", "training.batch_size: 500 is more than the train split",
        recipe=setting("training.batch_size", 500)),
    Bad("plan", "a cap that drops a label", "data.max_train_examples: a cap of 1 cannot keep every label",
        recipe=setting("data.max_train_examples", 1)),
    Bad("plan", "few-shot asking more than a class has", "data.shots_per_class",
        recipe=setting("data.shots_per_class", 1000)),
    Bad("plan", "model folder missing", "model", recipe=setting("model", "{dir}/no-such-model")),
    Bad("plan", "a tuner option of the wrong type", "methods.0: options.alpha: LoHaConfig takes a number (default 8), "
        "not 'eight'", recipe=setting("methods.0", {"method": "peft", "config": "LoHaConfig", "knob": "r",
                                                     "options": {"alpha": "eight"}})),
    Bad("plan", "a knob that does not size the tuner", "knob: alpha does not change LoHaConfig's trainable count",
        recipe=setting("methods.0", {"method": "peft", "config": "LoHaConfig", "knob": "alpha"})),
    Bad("plan", "an option peft refuses at every knob value", "LoHaConfig: peft refused it at every one of",
        recipe=setting("methods.0", {"method": "peft", "config": "LoHaConfig", "knob": "r",
                                     "options": {"rank_pattern": {"query": "x"}}})),
    # Data files.
    Bad("data", "train file missing", "data.train: file not found", recipe=setting("data.train", "{dir}/none.jsonl")),
    Bad("data", "unsupported extension", "data.train: cannot read", recipe=setting("data.train", "{dir}/table.xyz")),
    Bad("data", "empty train file", "data.train", recipe=setting("data.train", "{dir}/empty.jsonl")),
    Bad("data", "malformed JSON lines", "data.train: cannot read", recipe=setting("data.train", "{dir}/broken.jsonl")),
    Bad("data", "label column absent", "data.label_column: column 'category' not in",
        recipe=setting("data.label_column", "category")),
    Bad("data", "labels that are lists", "data.label_column: column 'label' of",
        recipe=setting("data.train", "{dir}/lists.parquet")),
    Bad("data", "test labels train never has", "data.test: 1 label(s) never seen in train: 'neutral'",
        recipe=setting("data.test", "{dir}/neutral.jsonl")),
    Bad("data", "a UTF-16 data file", "line 1 has bytes ff fe that utf-8 cannot decode; the file starts with a UTF-16 "
        "byte-order mark: set data.encoding: utf-16", recipe=setting("data.train", "{dir}/utf16.jsonl")),
    Bad("data", "a Shift-JIS file read as UTF-8", "files saved as CSV by Excel in Japanese are cp932",
        recipe=setting("data.train", "{dir}/sjis.jsonl")),
    Bad("data", "an encoding that maps text to text", "data.encoding: 'rot13' is a codec but not a text encoding",
        recipe=setting("data.encoding", "rot13")),
    Bad("data", "a device as the train file", "data.train: /dev/zero is a character device",
        recipe=setting("data.train", "/dev/zero")),
    Bad("data", "forecasting: dates in train, integer steps in test", "data.test: its times are integer steps but "
        "data.train's are dates", recipe=lambda r: {**r, "task": "forecasting", "data": {
            "train": "{dir}/dated.csv", "test": "{dir}/stepped.csv", "horizon": 2, "context_length": 4,
            "season_length": 2}}),
    Bad("data", "forecasting: a season longer than every series", "data.season_length: 500 is not shorter than the "
        "12 points", recipe=lambda r: {**r, "task": "forecasting", "data": {
            "train": "{dir}/dated.csv", "horizon": 2, "context_length": 4, "season_length": 500}}),
    # Where poc writes.
    Bad("paths", "--store is a file", "--store: {dir}/a-file is not a folder",
        argv=("run", "{recipe}", "--store", "{dir}/a-file")),
    Bad("paths", "--store under a file", "--store: {dir}/a-file/store is not a folder",
        argv=("run", "{recipe}", "--store", "{dir}/a-file/store")),
    Bad("paths", "--output is a folder", "--output: {dir} is a folder", argv=("report", "--store", "{dir}", "--output", "{dir}")),
    Bad("paths", "--output empty", "--output: . is a folder", argv=("report", "--store", "{dir}", "--output", "")),
    Bad("paths", "--output under a file", "--output: {dir}/a-file/r.html cannot be written: {dir}/a-file is a file",
        argv=("report", "--store", "{dir}", "--output", "{dir}/a-file/r.html")),
    Bad("paths", "--output a device", "--output: /dev/full is a character device; poc writes a new file or replaces "
        "a regular one", argv=("report", "--store", "{store}", "--format", "pdf", "--output", "/dev/full")),
    Bad("paths", "--output a symbolic link", "--output: {dir}/link.html is a symbolic link",
        argv=("report", "--store", "{store}", "--output", "{dir}/link.html")),
    Bad("paths", "--output a named pipe", "--output: {dir}/fifo.html is a named pipe",
        argv=("report", "--store", "{store}", "--format", "html", "--output", "{dir}/fifo.html")),
    Bad("paths", "PDF bytes into a .html file", "--output: {dir}/n.html ends in .html but --format is pdf",
        argv=("report", "--store", "{store}", "--format", "pdf", "--output", "{dir}/n.html")),
    Bad("paths", "--tracking-uri a device as the database", "--tracking-uri: /dev/null is a character device",
        argv=("export", "mlflow", "--store", "{store}", "--tracking-uri", "sqlite:////dev/null")),
    Bad("paths", "--tracking-uri a device as the folder", "--tracking-uri: /dev/null is not a folder",
        argv=("export", "mlflow", "--store", "{store}", "--tracking-uri", "file:/dev/null")),
    # Options, validated like recipe fields.
    Bad("options", "negative price", "--price-per-hour", argv=("compare", "--store", "{store}", "--price-per-hour", "-5")),
    Bad("options", "price nan", "--price-per-hour", argv=("compare", "--store", "{store}", "--price-per-hour", "nan")),
    Bad("options", "price inf in the report", "--price-per-hour",
        argv=("report", "--store", "{store}", "--price-per-hour", "inf")),
    Bad("options", "currency without a price", "--currency", argv=("compare", "--store", "{store}", "--currency", "JPY")),
    Bad("options", "currency with markup", "--currency",
        argv=("compare", "--store", "{store}", "--price-per-hour", "1", "--currency", "[red]JPY")),
    Bad("options", "--json and --csv", "--json, --csv", argv=("compare", "--store", "{store}", "--json", "--csv")),
    Bad("options", "a Ray head that is not there", "--ray-address: nothing answered at 127.0.0.1:9 within 5 s",
        argv=("run", "{recipe}", "--store", "{dir}/ray-store", "--executor", "ray", "--ray-address", "127.0.0.1:9")),
    Bad("options", "an empty experiment name", "--experiment: an empty name",
        argv=("export", "mlflow", "--store", "{store}", "--experiment", "")),
    Bad("options", "a tracking URI MLflow cannot store at", "--tracking-uri: 'ftp://host/runs': MLflow does not store",
        argv=("export", "mlflow", "--store", "{store}", "--tracking-uri", "ftp://host/runs")),
    Bad("options", "unknown report format", "--format", argv=("report", "--store", "{store}", "--format", "docx")),
    Bad("options", "unknown language", "--lang", argv=("report", "--store", "{store}", "--lang", "fr")),
    Bad("options", "baseline not in the store", "--baseline: 'nosuch' is not a method of recipe 'tiny'",
        argv=("compare", "--store", "{store}", "--recipe", "tiny", "--baseline", "nosuch")),
    Bad("options", "method not in the store", "--method: 'dora' is not a method in the store",
        argv=("compare", "--store", "{store}", "--method", "dora")),
    Bad("options", "recipe not in the store", "--recipe: 'nosuch' is not a recipe in the store",
        argv=("compare", "--store", "{store}", "--recipe", "nosuch")),
    Bad("options", "report baseline not in the store", "--baseline: 'nosuch'",
        argv=("report", "--store", "{store}", "--recipe", "tiny", "--baseline", "nosuch", "--output", "{dir}/r.html")),
    Bad("options", "report recipe not in the store", "--recipe: 'nosuch'",
        argv=("report", "--store", "{store}", "--recipe", "nosuch", "--output", "{dir}/r.html")),
]


def _files(folder: Path) -> None:
    """The damaged and odd files the cases point at."""
    (folder / "a-file").write_text("not a folder\n")
    (folder / "table.xyz").write_text("text,label\n")
    (folder / "empty.jsonl").write_text("")
    (folder / "broken.jsonl").write_text('{"text": "good film", "label": "positive"}\n{"text": "cut sh\n')
    (folder / "neutral.jsonl").write_text('{"text": "the plot", "label": "neutral"}\n')
    pd.DataFrame({"text": ["good", "bad", "fine", "awful"], "label": [["positive"], ["negative"]] * 2}).to_parquet(
        folder / "lists.parquet")
    good = '{"text": "良い映画", "label": "positive"}\n{"text": "ひどい", "label": "negative"}\n'
    (folder / "utf16.jsonl").write_bytes(good.encode("utf-16"))  # Notepad's "Unicode", with its FF FE mark
    (folder / "sjis.jsonl").write_bytes(good.encode("cp932"))
    os.mkfifo(folder / "fifo.yaml")
    os.mkfifo(folder / "fifo.html")
    (folder / "target.html").write_text("someone else's file\n")
    (folder / "link.html").symlink_to(folder / "target.html")
    months = pd.date_range("2020-01-01", periods=16, freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"series_id": "a", "t": months, "value": [float(v % 5) for v in range(16)]}).to_csv(
        folder / "dated.csv", index=False)
    pd.DataFrame({"series_id": "a", "t": [17, 18], "value": [1.0, 2.0]}).to_csv(folder / "stepped.csv", index=False)


def _recipe_text(case: Bad, valid: Recipe, folder: Path) -> bytes:
    if isinstance(case.recipe, bytes):
        return case.recipe
    if isinstance(case.recipe, str):  # raw YAML, after the valid recipe where it says {base}
        return case.recipe.replace("{base}", yaml.safe_dump(valid, sort_keys=False)).encode()
    mutated = case.recipe(valid) if case.recipe is not None else valid
    return yaml.safe_dump(mutated, sort_keys=False).replace("{dir}", str(folder)).encode()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, tiny_data: dict[str, Path],
             tiny_store: Path) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Every case run as a `poc` process of its own, forked from one that has imported poc (forked_cli.py:
    the imports once, not seventy times), in two halves at once."""
    folder = tmp_path_factory.mktemp("bad-inputs")
    _files(folder)
    valid = base(tiny_model_dir, tiny_data)
    commands = []
    for index, case in enumerate(CASES):
        recipe = folder / f"case-{index}.yaml"
        recipe.write_bytes(_recipe_text(case, valid, folder))
        commands.append({"cwd": str(folder), "argv": [
            a.replace("{recipe}", str(recipe)).replace("{dir}", str(folder)).replace("{store}", str(tiny_store))
            for a in case.argv]})

    results = poc_many(commands, ENV, at_once=2)
    return {case.name: (result, folder) for case, result in zip(CASES, results)}


def test_the_corpus_covers_every_category() -> None:
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} == {"file", "yaml", "keys", "numbers", "seeds", "plan", "data", "paths",
                                            "options"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_naming_what_is_wrong(
    case: Bad, outcomes: dict[str, tuple[subprocess.CompletedProcess[str], Path]]
) -> None:
    result, folder = outcomes[case.name]
    said = result.stdout + result.stderr
    assert result.returncode == case.code, said
    assert "Traceback" not in said
    assert result.stdout == "", "nothing but the error is printed"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ")
    assert case.names.replace("{dir}", str(folder)) in line
    assert len(line) <= MAX_LINE + len(str(folder)) * 2, len(line)
