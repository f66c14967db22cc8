"""Compare methods from the store: one row per recipe and method, paired by seed.

When a store holds several records for the same recipe, method and seed (the recipe was
changed and run again), the most recently finished one is used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from poc_cli.cost import Price, record_price, run_cost
from poc_cli.errors import PocError, RecipeError, listed
from poc_cli.learning import (
    LearningCheck,
    Scored,
    check,
    paired_difference,
    per_example,
    scored,
    trivial,
    trivial_scores,
)
from poc_cli import methods
from poc_cli.methods import METHODS, get_method
from poc_cli.planners import PlannersCheck, against_planners
from poc_cli.ranking import ranked
from poc_cli.search import did_not_hold
from poc_cli.serving_summary import ServingSummary, summarise
from poc_cli.stats import PairedDifference, Summary, holm, mean_interval, summarize
from poc_cli.methods import stored_label
from poc_cli.records.record import StoredRecord
from poc_cli.records.sections import EdgeSteps, SearchSelection, Selection
from poc_cli.store import Scan, Store

TRIVIAL_KIND = "trivial"  # the method_kind of the computed row for the task's trivial answer (its name is the task's)


@dataclass(frozen=True)
class Chosen:
    """How a row's setting was chosen, as compare shows it: how, and for a search its size, the winning
    trial's validation score and the seeded runs' mean validation score at that setting."""

    how: str | None  # search, recipe, default, reference, trivial; None where the records predate it
    trial_count: int | None = None  # a search: how many trials it ran
    metric: str | None = None
    score: float | None = None
    chosen: dict[str, Any] | None = None
    runs_validation: float | None = None
    held: bool = True  # a search: the seeded runs scored close to the winning trial
    edge: EdgeSteps | None = None  # a search: the trials it added beyond its grid's ends (absent in older records)

    @property
    def searched(self) -> bool:
        return self.how == "search"

    def to_dict(self) -> dict[str, Any]:
        """As `compare --json` has always printed it: `how` alone unless searched, and the trial count
        under `trials`."""
        if not self.searched:
            return {"how": self.how}
        return {"how": "search", "trials": self.trial_count, "metric": self.metric, "score": self.score,
                "chosen": self.chosen, "runs_validation": self.runs_validation, "held": self.held} | (
                    {"beyond_grid": self.edge.model_dump()} if self.edge is not None else {})


@dataclass(frozen=True)
class MethodRow:
    """Everything `poc compare` shows for one method of one recipe (or for the task's trivial
    answer, kind "trivial": computed from the stored test labels, nothing ran)."""

    recipe: str
    method: str
    method_kind: str
    settings: dict[str, Any]
    lr: float | None
    selection: Chosen  # how the setting was chosen (search summary, or recipe / default)
    trainable_parameters: int | None
    adapter_parameters: int | None  # the budgeted part (None for full fine-tuning and references)
    head_parameters: int | None
    total_parameters: int | None  # every parameter of the model
    percent_of_full: float | None
    metric: str  # the task's primary metric (declared in the records)
    higher_is_better: bool
    score: Summary | None  # the primary metric on test, over seeds
    interval: tuple[float, float] | None  # its 95% interval: t over seeds, or a bootstrap over examples (one seed)
    scores: dict[str, Summary]  # every declared metric on test, the primary first
    units: dict[str, str]  # each declared metric's unit ("fraction" is shown in %)
    baseline: str
    difference: PairedDifference | None  # the primary metric minus the baseline's
    learning: LearningCheck | None  # did it learn? (trained methods only)
    n_test: int | None  # test examples per seed
    peak_memory_mib: float | None
    memory_label: str
    gpu_need_mib: float | None  # what sizes a GPU: the job's NVML peak (reserved memory plus the CUDA context)
    train_s: Summary | None  # wall time of training, warm-up included: what the runs cost
    # Training time at the steady step rate (the first steps' one-off costs kept apart): what time ratios and
    # the time front compare. None for records that did not keep the warm-up apart (before schema 8).
    steady_s: Summary | None
    warmup_s: float | None  # mean seconds of the warm-up steps
    examples_per_s: float | None
    loaded: bool  # a run's training shared the machine with other busy processes (its time is not clean)
    other_cores: float | None  # the most cores other processes kept busy during a run's training
    energy_j: float | None
    cost_per_run: float | None
    price: Price
    adapter_bytes: int | None
    statuses: dict[str, int]
    job_ids: dict[int, str]  # seed -> job id of the record used
    off_budget: bool = False  # ran beyond the budget's tolerance, as its recipe allowed (see budget.py)
    rank: int | None = None  # by mean score among the recipe's trained methods (ranking.py)
    pareto: tuple[str, ...] = ()  # the fronts it lies on: "memory" (score vs peak memory), "time" (vs training time)
    fit_s: float | None = None  # a classical reference row: the wall time of fitting every series
    fit_cpu_s: float | None = None  # and its CPU time (what the row costs: CPU seconds, no GPU)
    planners: PlannersCheck | None = None  # a trained method against the best classical row (forecasting)
    series_short: int | None = None  # a classical row: series under two seasons (fitted without seasonality)
    series_fell_back: int | None = None  # a classical row: series its model refused (SeasonalNaive instead)
    serving: ServingSummary | None = None  # what serving its model costs (serving_summary.py)

    @property
    def compared_s(self) -> Summary | None:
        """The training time ratios and fronts compare: the steady state where the records kept the warm-up
        apart, else the wall time."""
        return self.steady_s or self.train_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"selection": self.selection.to_dict()}


def latest_records(records: Iterable[StoredRecord]) -> list[StoredRecord]:
    """One record per (recipe, method, seed): the last to finish."""
    latest: dict[tuple[str, str, int], StoredRecord] = {}
    for record in records:
        key = (record.recipe_name, record.method, record.seed)
        if key not in latest or record.finished_at >= latest[key].finished_at:
            latest[key] = record
    return list(latest.values())


GPU_NO_NVML = "GPU: torch's reserved peak (NVML gave no figure)"


def _memory(record: StoredRecord) -> tuple[float | None, str]:
    """The job's peak memory and what it is. A job that ran on a GPU is never shown with its host RAM: where
    NVML gave no figure, torch's own reserved peak (the CUDA context left out), else nothing."""
    if record.gpu.peak_job_mib is not None:
        return record.gpu.peak_job_mib, "GPU peak (NVML)"
    if record.runtime is not None and (record.runtime.device or "").startswith("cuda"):
        return record.memory.torch_peak_reserved_mib, GPU_NO_NVML
    return record.memory.host_peak_rss_mib, "host RSS peak (no GPU)"


def selection_summary(selection: Selection | None, runs: list[StoredRecord]) -> Chosen:
    """What compare shows of a stored selection (did a search's setting hold up in the seeded runs?)."""
    if not isinstance(selection, SearchSelection):
        return Chosen(selection.how if selection else None)
    scores = [score for r in runs if (score := r.validation.get(selection.metric)) is not None]
    return Chosen("search", trial_count=len(selection.trials), metric=selection.metric, score=selection.score,
                  chosen=selection.chosen.model_dump(exclude_unset=True),
                  runs_validation=sum(scores) / len(scores) if scores else None,
                  held=did_not_hold(selection, scores) is None, edge=selection.edge)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compare(
    store: Store, *, recipe: str | None = None, methods: list[str] | None = None, baseline: str | None = None,
    price: Price | None = None, scan: Scan | None = None,
) -> list[MethodRow]:
    """Rows for every recipe and method in the store (read from `scan` when the caller has read it);
    PocError if there is nothing to compare."""
    if not store.root.is_dir():
        raise PocError(f"store not found: {store.root}")
    every = latest_records((scan or store.scan()).records)
    check_options(every, recipe=recipe, methods=methods, baseline=baseline)
    records = [r for r in every
               if (recipe is None or r.recipe_name == recipe) and (methods is None or r.method in methods)]
    if not records:
        raise PocError(f"no records in {store.root}" + (" matching the filters" if recipe or methods else ""))
    return compare_records(records, baseline=baseline, price=price)


def check_options(records: list[StoredRecord], *, recipe: str | None, methods: list[str] | None = None,
                  baseline: str | None = None) -> None:
    """A --recipe, --method or --baseline that names nothing in the store is a usage error (exit 2),
    never an empty or all-dashes table."""
    if not records:
        return  # the store's own error (missing, empty) says more
    recipes = {r.recipe_name for r in records}
    if recipe is not None and recipe not in recipes:
        raise RecipeError(f"--recipe: {recipe!r} is not a recipe in the store; recipes: {listed(sorted(recipes))}")
    chosen = [r for r in records if recipe is None or r.recipe_name == recipe]
    present = {r.method for r in chosen}
    for name in methods or []:
        if name not in present:
            raise RecipeError(f"--method: {name!r} is not a method in the store; methods: {listed(sorted(present))}")
    if baseline is not None:
        for name in sorted({r.recipe_name for r in chosen}):
            mine = {r.method for r in chosen if r.recipe_name == name}
            if baseline not in mine:
                raise RecipeError(f"--baseline: {baseline!r} is not a method of recipe {name!r} in the store; "
                                  f"methods: {listed(sorted(mine))}")


def _recipe_order(record: StoredRecord, method: str) -> tuple[int, int, str]:
    """Untrained references first, then the recipe's own order of methods."""
    labels = [stored_label(m) for m in record.job.recipe.methods]
    trains = methods.trains(record.method_kind)
    return (int(trains), labels.index(method) if method in labels else len(labels), method)


def _ok(runs: list[StoredRecord]) -> dict[int, StoredRecord]:
    return {r.seed: r for r in runs if r.ok}


def _row(recipe_name: str, method: str, runs: list[StoredRecord], *, reference: str,
         base: dict[int, Scored], learning_ref: tuple[str | None, dict[int, Scored]], price: Price | None) -> MethodRow:
    ok = _ok(runs)
    statuses: dict[str, int] = defaultdict(int)
    for r in runs:
        statuses[r.status.value] += 1
    first = next(iter(ok.values()), runs[0])
    declared, primary = first.task.metrics, first.task.primary
    allocation = first.job.allocation
    built = first.built  # the planned counts show once the model was built
    memory = [_memory(r) for r in ok.values()]
    row_price = record_price(first, price)
    train_summary, steady_summary, warmup = _times(list(ok.values()))
    scores = {m.name: summarize([r.test.get(m.name) for r in ok.values()])  # type: ignore[misc]
              for m in declared if ok and all(r.test.has(m.name) for r in ok.values())}
    energy = [r.energy.energy_j for r in ok.values() if r.energy.energy_j is not None]
    loads = [r.load for r in ok.values() if r.load is not None]
    trains = methods.trains(first.method_kind)
    learning_name, learning_scores = learning_ref
    trainable = first.parameters.trainable_counted
    total = allocation.total_parameters if built else None
    return MethodRow(
        recipe=recipe_name, method=method, method_kind=first.method_kind,
        settings=allocation.settings, lr=first.job.method.lr,
        selection=selection_summary(first.selection, list(ok.values())),
        trainable_parameters=trainable,
        adapter_parameters=allocation.adapter_parameters if built and first.method_kind in METHODS
        and get_method(first.method_kind).FITTED else None,
        head_parameters=allocation.head_parameters if built else None, total_parameters=total,
        percent_of_full=100 * trainable / total if trainable is not None and total else None,
        metric=primary.name, higher_is_better=primary.higher_is_better,
        score=scores.get(primary.name),
        interval=_interval([r.test.get(primary.name) for r in ok.values()], ok, primary.name)  # type: ignore[misc]
        if primary.name in scores else None,
        scores=scores, units={m.name: m.unit for m in declared},
        baseline=reference,
        difference=None if method == reference else paired_difference(scored(ok, primary.name), base),
        learning=check(ok, learning_scores, reference_name=learning_name, metric=primary.name,
                       higher_is_better=primary.higher_is_better) if trains and ok else None,
        n_test=first.test.n or _n_test(first),
        peak_memory_mib=max((m for m, _ in memory if m is not None), default=None),
        memory_label=memory[0][1] if memory else "-",
        gpu_need_mib=max((r.gpu.peak_job_mib for r in ok.values() if r.gpu.peak_job_mib is not None), default=None),
        train_s=train_summary, steady_s=steady_summary, warmup_s=warmup,
        examples_per_s=_mean([r.throughput.examples_per_s for r in ok.values()  # type: ignore[misc]
                              if r.throughput.examples_per_s]),
        loaded=any(load.loaded for load in loads),
        other_cores=max((load.other_cores for load in loads if load.other_cores is not None), default=None),
        energy_j=_mean(energy),
        cost_per_run=run_cost(train_summary.mean, row_price) if train_summary else None,
        price=row_price,
        adapter_bytes=first.adapter.bytes,
        statuses=dict(statuses),
        job_ids={seed: r.job_id for seed, r in sorted(ok.items())},
        off_budget=allocation.off_budget, serving=summarise(list(ok.values())),
        **_fitted(first, list(ok.values())),
    )


def _fitted(first: StoredRecord, runs: list[StoredRecord]) -> dict[str, Any]:
    """A classical row's fits: their time, and the series fitted without seasonality or refused."""
    runtime = first.runtime
    fell_back = runtime.series_fell_back if runtime else None
    return {"fit_s": _mean([r.timing.fit_s for r in runs if r.timing.fit_s is not None]),
            "fit_cpu_s": _mean([r.timing.fit_cpu_s for r in runs if r.timing.fit_cpu_s is not None]),
            "series_short": runtime.series_short if runtime else None,
            "series_fell_back": len(fell_back) if fell_back is not None else None}


def _times(runs: list[StoredRecord]) -> tuple[Summary | None, Summary | None, float | None]:
    """Wall training time, the steady-state time (only where every run kept its warm-up apart, so that
    the two describe the same runs) and the mean warm-up."""
    train = [r.timing.train_s for r in runs if r.timing.train_s is not None]
    steady = [r.timing.steady_train_s for r in runs if r.timing.steady_train_s is not None]
    warmup = [r.timing.warmup_s for r in runs if r.timing.warmup_s is not None]
    return (summarize(train) if train else None, summarize(steady) if steady and len(steady) == len(train) else None,
            _mean(warmup))


def _interval(scores: list[float], ok: dict[int, StoredRecord], metric: str) -> tuple[float, float] | None:
    return mean_interval(scores, per_example(next(iter(ok.values())), metric) if len(ok) == 1 else None)


def _n_test(record: StoredRecord) -> int | None:
    answers = record.test_predictions.truth() if record.test_predictions else None
    return len(answers) if answers else None


def _trivial_row(recipe_name: str, ok: dict[int, StoredRecord], *, reference: str, base: dict[int, Scored],
                 price: Price | None) -> MethodRow | None:
    """The task's trivial answer as a row (always the majority class ...), from any ok record per seed."""
    found = {seed: t for seed, r in ok.items() if (t := trivial(r)) is not None}
    if not found:
        return None
    first = ok[next(iter(found))]
    declared, primary = first.task.metrics, first.task.primary
    mine = trivial_scores(ok, primary.name)
    return MethodRow(
        recipe=recipe_name, method=next(iter(found.values())).name, method_kind=TRIVIAL_KIND, settings={}, lr=None,
        selection=Chosen(TRIVIAL_KIND), trainable_parameters=None, adapter_parameters=None,
        head_parameters=None, total_parameters=None, percent_of_full=None, metric=primary.name,
        higher_is_better=primary.higher_is_better,
        score=summarize([s.score for s in mine.values()]), interval=None,  # a constant answer: nothing varies
        scores={m.name: summarize([t.metrics[m.name] for t in found.values()])
                for m in declared if all(m.name in t.metrics for t in found.values())},
        units={m.name: m.unit for m in declared}, baseline=reference,
        difference=paired_difference(mine, base) if base else None, learning=None,
        n_test=first.test.n or _n_test(first),
        peak_memory_mib=None, memory_label="-", gpu_need_mib=None, train_s=None, steady_s=None, warmup_s=None,
        examples_per_s=None,
        loaded=False, other_cores=None, energy_j=None, cost_per_run=None, price=record_price(first, price),
        adapter_bytes=None, statuses={}, job_ids={},
    )


def _learning_reference(by_method: dict[str, list[StoredRecord]], any_ok: dict[int, StoredRecord],
                        metric: str) -> tuple[str | None, dict[int, Scored]]:
    """What "learned" is checked against: the task's trivial answer, else its untrained model's row."""
    trivial_by_seed = trivial_scores(any_ok, metric)
    if trivial_by_seed:
        found = trivial(any_ok[next(iter(trivial_by_seed))])
        return (found.name if found else None), trivial_by_seed
    for method, runs in by_method.items():
        kind = runs[0].method_kind
        if kind in METHODS and not methods.trains(kind):
            return method, scored(_ok(runs), metric)
    return None, {}


def compare_records(records: list[StoredRecord], *, baseline: str | None = None,
                    price: Price | None = None) -> list[MethodRow]:
    """Rows for every recipe and method among `records` (one per recipe, method and seed), each
    recipe's trivial answer first where its task has one."""
    grouped: dict[str, dict[str, list[StoredRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.recipe_name][record.method].append(record)
    rows = []
    for recipe_name, by_method in grouped.items():
        by_method = dict(sorted(by_method.items(), key=lambda item: _recipe_order(item[1][0], item[0])))
        reference = baseline or ("lora" if "lora" in by_method else next(iter(by_method)))
        any_ok: dict[int, StoredRecord] = {}
        for runs in by_method.values():
            for r in runs:
                if r.ok:
                    any_ok.setdefault(r.seed, r)
        metric = next(iter(any_ok.values()), records[0]).task.primary.name
        base = scored(_ok(by_method.get(reference, [])), metric)
        learning_ref = _learning_reference(by_method, any_ok, metric)
        row = _trivial_row(recipe_name, any_ok, reference=reference, base=base, price=price)
        rows += [row] if row else []
        mine = ranked(_holm_adjusted([_row(recipe_name, method, runs, reference=reference, base=base,
                                           learning_ref=learning_ref, price=price)
                                      for method, runs in by_method.items()], by_method, base, metric))
        rows += against_planners(mine, {method: _ok(runs) for method, runs in by_method.items()}, metric)
    return rows


def _holm_adjusted(rows: list[MethodRow], by_method: dict[str, list[StoredRecord]], base: dict[int, Scored],
                   metric: str) -> list[MethodRow]:
    """The trained methods' differences against the baseline, Holm-adjusted where there are two or more:
    each p adjusted, each interval recomputed by the same procedure at the level Holm's step used."""
    family = [k for k, r in enumerate(rows) if r.difference is not None and r.difference.p_value is not None
              and methods.trains(r.method_kind)]
    if len(family) < 2:
        return rows
    out = list(rows)
    for k, (p_value, confidence) in zip(family, holm([rows[k].difference.p_value for k in family])):  # type: ignore[union-attr]
        again = paired_difference(scored(_ok(by_method[rows[k].method]), metric), base, confidence)
        assert again is not None  # the same data gave a difference at 95%
        out[k] = replace(rows[k], difference=replace(again, p_value=p_value, adjusted_for=len(family)))
    return out
