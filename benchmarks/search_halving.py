"""The learning-rate search as a full grid and as successive halving, side by side on one recipe.

Both run stage 1 only (the trials, full length: the recipe's `search` must not shorten them)
into fresh stores, one after the other in this process's `poc` driver, and print per method the
setting each chose, its trial jobs and optimizer steps (summed from the stored records) and the
wall time, then the ratios. Targets (issue 16): the same choice per method, with at most 50% of
the grid's trial steps.

    python benchmarks/search_halving.py benchmarks/banking77-search.yaml
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from poc_cli.executors.local import LocalExecutor, cpu_slots
from poc_cli.halving import stops
from poc_cli.launcher import run_plan
from poc_cli.plan import make_plan
from poc_cli.recipe import load_recipe
from poc_cli.records.status import Stage
from poc_cli.store import Store


def trained_steps(record: dict) -> int:
    """Optimizer steps one trial job trained: its loss curve, less what an earlier rung trained."""
    rung = (record.get("job") or {}).get("rung")
    before = max((s for s in stops(rung["of"]) if s < rung["stop_at"]), default=0) if rung else 0
    return len(record.get("loss_curve") or []) - before if record.get("loss_curve") else 0


def measure(recipe_path: Path, strategy: str, root: Path) -> dict[str, dict]:
    recipe = load_recipe(recipe_path)
    assert recipe.search is not None and recipe.search.epochs is None and recipe.search.steps is None, \
        "the comparison is of full-length trials: remove search.epochs / search.steps"
    recipe = recipe.model_copy(update={"search": recipe.search.model_copy(update={"strategy": strategy})})
    plan = make_plan(recipe)
    store = Store(root / strategy)
    executor = LocalExecutor(cpu_slots(1))
    started = time.perf_counter()
    try:
        result = run_plan(plan, store=store, executor=executor, with_runs=False)
    finally:
        executor.close()
    wall = time.perf_counter() - started
    out = {}
    for index in plan.trials:
        label = plan.allocations[index].label
        records = [store.read(o.job.recipe.name, o.job.id, Stage.TRIAL) or {} for o in result.trials
                   if o.job.method_index == index]
        steps = sum(trained_steps(r) for r in records)
        chosen = result.chosen.get(index)
        out[label] = {"choice": None if chosen is None else (chosen.point.lr, chosen.point.alpha_ratio),
                      "jobs": len(records), "steps": steps,
                      "train_s": sum((r.get("timing") or {}).get("train_s") or 0.0 for r in records),
                      "held": result.held.get(label)}
    out["_all"] = {"wall_s": wall}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--store", type=Path, help="where both stores go (default: a temporary folder)")
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="poc-halving-"))
    found = {strategy: measure(args.recipe, strategy, root) for strategy in ("grid", "halving")}
    grid, halving = found["grid"], found["halving"]
    print(f"stores in {root}")
    print(f"{'method':<12}{'strategy':<10}{'choice (lr, alpha_ratio)':<28}{'jobs':>6}{'steps':>8}{'train s':>10}")
    for label in (k for k in grid if k != "_all"):
        for strategy, rows in found.items():
            row = rows[label]
            print(f"{label:<12}{strategy:<10}{str(row['choice']):<28}{row['jobs']:>6}{row['steps']:>8}"
                  f"{row['train_s']:>10.0f}")
    steps = {s: sum(r["steps"] for k, r in rows.items() if k != "_all") for s, rows in found.items()}
    print(f"wall time: grid {grid['_all']['wall_s']:.0f} s, halving {halving['_all']['wall_s']:.0f} s "
          f"({halving['_all']['wall_s'] / grid['_all']['wall_s']:.2f}x); trial steps: grid {steps['grid']:,}, "
          f"halving {steps['halving']:,} ({steps['halving'] / steps['grid']:.2f}x)")
    same = all(grid[k]["choice"] == halving[k]["choice"] for k in grid if k != "_all")
    print(f"{'met   ' if same else 'MISSED'} the same choice per method as the grid")
    print(f"{'met   ' if steps['halving'] <= 0.5 * steps['grid'] else 'MISSED'} at most 50% of the grid's trial steps "
          f"({steps['halving'] / steps['grid']:.0%})")
    if not (same and steps["halving"] <= 0.5 * steps["grid"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
