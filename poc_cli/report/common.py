"""What every part of a report section reads: the recipe's rows and records, and the formatting
of names, metrics, durations and intervals in the report's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poc_cli.compare import TRIVIAL_KIND, MethodRow
from poc_cli.recipe import Recipe
from poc_cli.records.record import StoredRecord
from poc_cli.records.sections import Length, SearchSelection, Selection, TrainingSettings
from poc_cli.numbers import NBSP
from poc_cli.report.i18n import TEXT, text


@dataclass(frozen=True)
class Inputs:
    """One recipe's section: its rows (the trivial answer's first, where the task has one), its
    latest records, the parsed recipe and the ok runs by method and seed."""

    name: str
    rows: list[MethodRow]
    records: list[StoredRecord]
    trial_records: list[StoredRecord]  # the search's trials (what the PoC also spent)
    recipe: Recipe | None
    ok_runs: dict[str, dict[int, StoredRecord]]  # method -> seed -> ok record
    lang: str
    skipped: tuple[str, ...] = ()  # files in the recipe's folder that could not be read as records (path: reason)
    profile: dict[str, Any] | None = None  # the recipe's newest `poc profile`, if any

    @property
    def trivial(self) -> MethodRow | None:
        return next((r for r in self.rows if r.method_kind == TRIVIAL_KIND), None)

    @property
    def methods(self) -> list[MethodRow]:
        """Rows of methods that ran (trained or untrained references), not the computed trivial answer."""
        return [r for r in self.rows if r.method_kind != TRIVIAL_KIND]

    @property
    def measured(self) -> list[MethodRow]:
        return [r for r in self.methods if r.score is not None]

    @property
    def trained(self) -> list[MethodRow]:
        """Measured rows that trained: what time, memory and cost compare."""
        return [r for r in self.measured if r.train_s is not None]

    @property
    def first(self) -> MethodRow:
        return self.methods[0] if self.methods else self.rows[0]

    @property
    def metric(self) -> str:
        """The task's primary metric, as the records declare it."""
        return self.first.metric

    @property
    def percent(self) -> bool:
        return self.first.units.get(self.metric, "fraction") == "fraction"

    @property
    def baseline(self) -> str:
        return self.first.baseline

    @property
    def by_kind(self) -> dict[str, MethodRow]:
        return {r.method_kind: r for r in self.measured}

    @property
    def selections(self) -> dict[str, Selection | None]:
        """Each measured method's stored selection (how its setting was chosen; None where the record
        predates selections)."""
        return {r.method: next(iter(self.ok_runs[r.method].values())).selection for r in self.measured}

    @property
    def searched(self) -> dict[str, SearchSelection]:
        """The measured methods whose setting a search chose, with that search."""
        return {m: s for m, s in self.selections.items() if isinstance(s, SearchSelection)}

    @property
    def currency(self) -> str:
        return self.first.price.currency

    @property
    def loaded(self) -> list[MethodRow]:
        return [r for r in self.trained if r.loaded]

    @property
    def any_run(self) -> StoredRecord:
        """An ok run that trained (the untrained reference has no throughput or schedule), else any record."""
        trained = (run for r in self.trained for run in self.ok_runs[r.method].values())
        return next(trained, next((run for runs in self.ok_runs.values() for run in runs.values()), self.records[0]))

    def name_of(self, row: MethodRow | str) -> str:
        """A method's display name: LoRA / RandLoRA / フルファインチューニング ... unless the recipe named it."""
        if isinstance(row, str):
            row = next((r for r in self.rows if r.method == row), None) or row
            if isinstance(row, str):
                return row
        key = "name_" + (row.method if row.method_kind == TRIVIAL_KIND else row.method_kind)
        if (row.method == row.method_kind or row.method_kind == TRIVIAL_KIND) and key in TEXT[self.lang]:
            return text(self.lang, key)
        return row.method


def metric_name(lang: str, metric: str) -> str:
    """A declared metric's name in `lang` (its id where the report has no name for it)."""
    key = "metric_" + metric
    return text(lang, key) if key in TEXT[lang] else metric


def title_metric(lang: str, metric: str) -> str:
    """The metric's name at the start of a heading."""
    name = metric_name(lang, metric)
    return name if name[1:2].isupper() else name[:1].upper() + name[1:]  # sMAPE stays sMAPE


def statuses(counts: dict[str, int], lang: str) -> str:
    return ", ".join(f"{n}{NBSP}{text(lang, 'st_' + status)}" for status, n in counts.items())


def length_text(lang: str, length: Length | TrainingSettings) -> str:
    if length.steps:
        return text(lang, "length_steps", n=length.steps)
    return text(lang, "length_epochs", n=length.epochs or 1)


def join(lang: str, items: list[str]) -> str:
    """A list in running text: "a, b" / 「a、b」."""
    return ("、" if lang == "ja" else ", ").join(items)


def split_name(lang: str, split: str) -> str:
    key = "split_" + split
    return text(lang, key) if key in TEXT[lang] else split
