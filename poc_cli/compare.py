"""Compare methods from the store: one row per recipe and method, paired by seed.

When a store holds several records for the same recipe, method and seed (the recipe was
changed and run again), the most recently finished one is used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from poc_cli.cost import Price, run_cost, typical_price
from poc_cli.errors import PocError
from poc_cli.methods import METHODS, get_method
from poc_cli.stats import PairedDifference, Summary, paired_bootstrap, paired_t, summarize
from poc_cli.search import did_not_hold
from poc_cli.store import Store


@dataclass(frozen=True)
class MethodRow:
    """Everything `poc compare` shows for one method of one recipe."""

    recipe: str
    method: str
    method_kind: str
    settings: dict[str, Any]
    lr: float | None
    selection: dict[str, Any]  # how the setting was chosen (search summary, or recipe / default)
    trainable_parameters: int | None
    percent_of_full: float | None
    metric: str  # the task's primary metric (declared in the records)
    higher_is_better: bool
    score: Summary | None  # the primary metric on test, over seeds
    scores: dict[str, Summary]  # every declared metric on test, the primary first
    units: dict[str, str]  # each declared metric's unit ("fraction" is shown in %)
    baseline: str
    difference: PairedDifference | None  # the primary metric minus the baseline's
    peak_memory_mib: float | None
    memory_label: str
    train_s: Summary | None
    examples_per_s: float | None
    energy_j: float | None
    cost_per_run: float | None
    price: Price
    adapter_bytes: int | None
    statuses: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_records(store: Store) -> list[dict[str, Any]]:
    """One record per (recipe, method, seed): the last to finish."""
    latest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for record in store.records():
        key = (record["recipe_name"], record["method"], record["seed"])
        if key not in latest or record["finished_at"] >= latest[key]["finished_at"]:
            latest[key] = record
    return list(latest.values())


def _memory(record: dict[str, Any]) -> tuple[float | None, str]:
    gpu = record.get("gpu") or {}
    if gpu.get("peak_job_mib") is not None:
        return gpu["peak_job_mib"], "GPU peak (NVML)"
    return record.get("memory", {}).get("host_peak_rss_mib"), "host RSS peak (no GPU)"


# What records written before the task declared its metrics (schema 2) were scored by.
LEGACY_METRICS = [{"name": "accuracy", "unit": "fraction", "higher_is_better": True, "per_example": True},
                  {"name": "macro_f1", "unit": "fraction", "higher_is_better": True, "per_example": False}]


def declared_metrics(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics the record's task declared (the first is primary)."""
    return (record.get("task") or {}).get("metrics") or LEGACY_METRICS


def per_example(record: dict[str, Any], metric: str) -> list[float] | None:
    """The per-example test scores whose mean is `metric` (accuracy: 1 where right), if stored."""
    test = record.get("predictions", {}).get("test")
    if not test:
        return None
    stored = (test.get("per_example") or {}).get(metric)
    if stored is not None:
        return stored
    if metric == "accuracy" and "y_true" in test:  # schema 2 kept the labels only
        return [float(t == p) for t, p in zip(test["y_true"], test["y_pred"])]
    return None


def paired_difference(ok: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]],
                      metric: str) -> PairedDifference | None:
    """`metric` of `ok` minus `base` (records by seed): t over seeds, or bootstrap for one seed."""
    seeds = sorted(set(ok) & set(base))
    if len(seeds) >= 2:
        return paired_t([ok[s]["metrics"]["test"][metric] - base[s]["metrics"]["test"][metric] for s in seeds])
    if len(seeds) == 1:
        a, b = per_example(ok[seeds[0]], metric), per_example(base[seeds[0]], metric)
        if a is not None and b is not None and len(a) == len(b):
            return paired_bootstrap(a, b)
    return None


def record_price(record: dict[str, Any], override: Price | None) -> Price:
    """The command line's price, else the recipe's (cost.gpu_hourly_price), else the typical table's."""
    if override is not None:
        return override
    cost = (record.get("job", {}).get("recipe") or {}).get("cost") or {}
    if cost.get("gpu_hourly_price"):
        return Price(cost["gpu_hourly_price"], cost.get("currency", "USD"), "from the recipe (cost.gpu_hourly_price)")
    device = (record.get("gpu") or {}).get("device") or {}
    return typical_price(device.get("name"))


def selection_summary(selection: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What compare shows of a stored selection: how, and for a search its size, the winning trial's
    validation score and the seeded runs' mean validation score at that setting (did it hold up?)."""
    if selection.get("how") != "search":
        return {"how": selection.get("how")}
    scores = [r["metrics"]["validation"][selection["metric"]] for r in runs
              if selection["metric"] in r.get("metrics", {}).get("validation", {})]
    return {"how": "search", "trials": len(selection["trials"]), "metric": selection["metric"],
            "score": selection["score"], "chosen": selection["chosen"],
            "runs_validation": sum(scores) / len(scores) if scores else None,
            "held": did_not_hold(selection, scores) is None}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compare(
    store: Store, *, recipe: str | None = None, methods: list[str] | None = None, baseline: str | None = None,
    price: Price | None = None,
) -> list[MethodRow]:
    """Rows for every recipe and method in the store; PocError if there is nothing to compare."""
    if not store.root.is_dir():
        raise PocError(f"store not found: {store.root}")
    records = [r for r in latest_records(store)
               if (recipe is None or r["recipe_name"] == recipe) and (methods is None or r["method"] in methods)]
    if not records:
        raise PocError(f"no records in {store.root}" + (" matching the filters" if recipe or methods else ""))
    return compare_records(records, baseline=baseline, price=price)


def _recipe_order(record: dict[str, Any], method: str) -> tuple[int, int, str]:
    """Untrained references first, then the recipe's own order of methods."""
    labels = [m.get("name") or m.get("method") for m in (record.get("job", {}).get("recipe") or {}).get("methods", [])]
    trains = record.get("method_kind") in METHODS and get_method(record["method_kind"]).TRAINS
    return (int(trains), labels.index(method) if method in labels else len(labels), method)


def compare_records(records: list[dict[str, Any]], *, baseline: str | None = None,
                    price: Price | None = None) -> list[MethodRow]:
    """Rows for every recipe and method among `records` (one per recipe, method and seed)."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record["recipe_name"]][record["method"]].append(record)
    rows = []
    for recipe_name, by_method in grouped.items():
        by_method = dict(sorted(by_method.items(), key=lambda item: _recipe_order(item[1][0], item[0])))
        reference = baseline or ("lora" if "lora" in by_method else next(iter(by_method)))
        base_ok = {r["seed"]: r for r in by_method.get(reference, []) if r["status"] == "ok"}
        for method, runs in by_method.items():
            ok = {r["seed"]: r for r in runs if r["status"] == "ok"}
            statuses: dict[str, int] = defaultdict(int)
            for r in runs:
                statuses[r["status"]] += 1
            first = next(iter(ok.values()), runs[0])
            declared = declared_metrics(first)
            primary = declared[0]
            params = first.get("parameters", {})
            memory = [_memory(r) for r in ok.values()]
            row_price = record_price(first, price)
            train = [r["timing"]["train_s"] for r in ok.values() if "train_s" in r.get("timing", {})]
            train_summary = summarize(train) if train else None
            scores = {m["name"]: summarize([r["metrics"]["test"][m["name"]] for r in ok.values()])
                      for m in declared if ok and all(m["name"] in r["metrics"]["test"] for r in ok.values())}
            energy = [r["energy"]["energy_j"] for r in ok.values() if (r.get("energy") or {}).get("energy_j") is not None]
            rows.append(MethodRow(
                recipe=recipe_name, method=method, method_kind=first["method_kind"],
                settings=first["job"].get("allocation", {}).get("settings", {}),
                lr=(first["job"].get("method") or {}).get("lr"),
                selection=selection_summary(first.get("selection") or {}, list(ok.values())),
                trainable_parameters=params.get("trainable_counted"),
                percent_of_full=(100 * params["trainable_counted"] / params["full_model"]
                                 if params.get("trainable_counted") is not None and params.get("full_model")
                                 else None),
                metric=primary["name"], higher_is_better=primary["higher_is_better"],
                score=scores.get(primary["name"]), scores=scores, units={m["name"]: m["unit"] for m in declared},
                baseline=reference,
                difference=None if method == reference else paired_difference(ok, base_ok, primary["name"]),
                peak_memory_mib=max((m for m, _ in memory if m is not None), default=None),
                memory_label=memory[0][1] if memory else "-",
                train_s=train_summary,
                examples_per_s=_mean([r["throughput"]["examples_per_s"] for r in ok.values()
                                      if r.get("throughput", {}).get("examples_per_s")]),
                energy_j=_mean(energy),
                cost_per_run=run_cost(train_summary.mean, row_price) if train_summary else None,
                price=row_price,
                adapter_bytes=first.get("adapter", {}).get("bytes"),
                statuses=dict(statuses),
            ))
    return rows
