"""What `poc plan` prints: the job table, the search stage, the memory notes and the sizing table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from poc_cli.numbers import mib, size
from poc_cli.render.words import WholeWords, whole_words
from poc_cli.recipe import TrainingSpec
from poc_cli.safe_text import plain
from poc_cli.search import trial_seed

if TYPE_CHECKING:
    from poc_cli.budget import Allocation
    from poc_cli.estimate import Estimate
    from poc_cli.plan import Plan
    from poc_cli.state_memory import StateMemory


NARROW = 100  # a terminal narrower than this gets the seeds as a line under the job table, not a column


def plan_table(plan: Plan, width: int) -> WholeWords:
    """The job table: method, configuration, learning rate, trainable parameters and their share of the model,
    deviation from the budget, and (on a terminal of NARROW columns or more) the seed ids each runs at."""
    from poc_cli.formatting import config_text
    seeds = width >= NARROW
    table = Table(title=plain(f"Plan: {plan.recipe.name}"), title_justify="left")
    for column, justify in [("method", "left"), ("configuration", "left"), ("learning rate", "left"),
                            ("trainable\n(adapter)\n% of model", "right"), ("vs\nbudget", "right"),
                            *([("seed ids", "left")] if seeds else [])]:
        # Numbers never wrap or get cut; text columns wrap between words (whole_words).
        table.add_column(column, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]

    def row(label: str, setting: str, lr: str, count: str, share: str, budget: str, seed: str, **style: str) -> None:
        table.add_row(plain(label), setting, lr, count + (f"\n{share}" if share else ""), budget,
                      *([seed] if seeds else []), **style)

    for index, a in enumerate(plan.allocations):
        spec = plan.recipe.methods[index]
        searched = index in plan.trials
        shown = {k: v for k, v in a.settings.items() if not (searched and k == "alpha" and len(
            {p.alpha_ratio for p, _ in plan.trials[index]}) > 1)}
        row(a.label, config_text(a.method, shown, None, all_parameters="all parameters",
                                 nothing_trained="nothing trained"),
            "chosen by the search" if searched else f"{spec.learning_rate:g} ({'recipe' if spec.lr else 'default'})",
            f"{a.adapter_parameters:,}", f"{100 * a.adapter_parameters / a.total_parameters:.2f}%", deviation_text(a),
            ", ".join(map(str, plan.recipe.seeds)))
    head = plan.architecture
    if head.head_modules:
        row(f"+ head ({', '.join(head.head_modules)})", "trained by every method", "", f"{head.head_parameters:,}",
            f"{100 * head.head_parameters / head.total_parameters:.3f}%", "", "", style="dim")
    if plan.reference is not None:
        row(plan.reference.allocation.label, "the pretrained model, not trained (reference)", "-", "0", "0.00%",
            "reference", str(plan.reference.seed), style="dim")
    for job in plan.classical:
        row(job.allocation.label, plain(f"{job.allocation.settings['model']} fitted on each test series' history "
                                        "(reference)"), "-", "-", "", "reference", str(job.seed), style="dim")
    if plan.trivial is not None:
        row(plan.trivial, "computed from the test data, nothing runs (reference)", "-", "0", "0.00%", "reference", "-",
            style="dim")
    return whole_words(table)


def seeds_line(plan: Plan) -> str:
    """The seed ids, where the job table has no room for them (a terminal under NARROW columns)."""
    reference = (f"; the references once, at seed {plan.recipe.seeds[0]}"
                 if plan.reference is not None or plan.classical else "")
    return f"seed ids: {', '.join(map(str, plan.recipe.seeds))} for every method{reference}"


def deviation_text(a: Allocation) -> str:
    """The plan's budget column: the deviation, or the share of the budget an off-budget method reaches."""
    if a.deviation is None:
        return "reference"
    if a.off_budget and a.budget:
        return f"off budget: {a.adapter_parameters / a.budget:.1%} of it"
    return f"{a.deviation:+.2%}"


def memory_notes(plan: Plan) -> list[str]:
    """Frozen matrices a method adds (VeRA's shared projections): counted as memory, as peft counts them."""
    return [f"{a.label}: shared frozen matrices of {a.frozen_parameters:,} parameters "
            f"({a.frozen_parameters * 4 / 2**20:,.1f} MiB in fp32) are memory, not trainable parameters"
            for a in plan.allocations if a.frozen_parameters]


def training_line(training: TrainingSpec) -> str:
    """How every job computes: precision, memory savers, the effective batch."""
    accumulate = training.gradient_accumulation_steps
    batch = (f"batch {training.batch_size} x {accumulate} accumulated = {training.effective_batch_size} per step"
             if accumulate > 1 else f"batch {training.batch_size}")
    return (f"training: {training.precision} on {training.device}, {batch}, gradient checkpointing "
            f"{'on' if training.gradient_checkpointing else 'off'}, quantization {training.quantization}")


def search_table(plan: Plan) -> WholeWords:
    """Stage 1: each searched method's grid and its trial count."""
    table = Table(title="Stage 1: search", title_justify="left")
    for column in ("method", "learning rates", "alpha_ratio", "points", "jobs", "steps (vs a grid)", "beyond edge"):
        table.add_column(column)
    for index, points in plan.trials.items():
        alphas = sorted({p.alpha_ratio for p, _ in points if p.alpha_ratio is not None})
        jobs, steps, grid_steps = plan.search_cost(index)
        rates = sorted({p.lr for p, _ in points})
        table.add_row(plain(plan.allocations[index].label), ", ".join(f"{lr:g}" for lr in rates),
                      ", ".join(f"{a:g}" for a in alphas) or "-", str(len(points)), str(jobs),
                      f"{steps:,} ({steps / grid_steps:.0%})", f"up to {plan.edge_steps(index)}")
    return whole_words(table)


def search_note(plan: Plan) -> str:
    """How the trials train and score."""
    from poc_cli.tasks import search_metric  # torch and transformers: only once a plan is printed

    search = plan.recipe.search
    assert search is not None and plan.trial_splits is not None
    sizes = plan.trial_splits.sizes()
    length = (f"{search.steps} steps" if search.steps else f"{search.epochs} epoch(s)" if search.epochs
              else "as long as the seeded runs")
    note = (f"Each trial (seed {trial_seed(plan.recipe)}) trains on {sizes['train']:,} examples, {length}, and "
            f"scores {search_metric(plan.recipe)} on {sizes['validation']:,} validation examples; the test split is never read.")
    rung = next((job.rung for points in plan.trials.values() for _, job in points if job.rung), None)
    if rung is not None:
        from poc_cli.halving import stops
        note += (f" Halving: every point starts on the full {rung.total}-step schedule; at steps "
                 f"{', '.join(map(str, stops(rung.total)[:-1]))} only the best third on validation goes on, and the "
                 "choice is made on full-length scores.")
    if search.edge_steps:
        note += (f" Where the best learning rate is an end of its grid, up to {search.edge_steps} trial(s) a method are "
                 "added one grid step beyond it, so no method is chosen at an edge unless that limit is reached.")
    if search.steps or search.epochs:
        note += (" Trials shorter than the seeded runs can favour a learning rate the full schedule cannot take; "
                 "the report flags a setting whose seeded runs fall short of its trial.")
    return note


def sizing_table(found: Estimate) -> WholeWords:
    """Each method's measured step time and peak memory on the recipe's device and precision."""
    capacity = f"{mib(found.capacity_mib)} MiB" if found.capacity_mib is not None else "unknown"
    brief = [label for label, timing in found.methods.items() if timing.brief]
    table = Table(title=f"Sizing: {found.device} at {found.precision}", title_justify="left",
                  caption=plain(f"peak memory: {found.memory_scope}; the device has {capacity}"
                                + (f"; brief warm-up ({', '.join(brief)}: a forward of a batch would take a quarter "
                                   "second or more here): training and evaluation timed on batches of the 2 longest "
                                   "examples and scaled to the recipe's, model metrics on 4 passages and scaled, "
                                   "peak memory not measured (see the arithmetic above)" if brief else "")),
                  caption_justify="left")
    for column in ("method", "step", "peak memory", "fits"):
        table.add_column(column)
    for label, timing in found.methods.items():
        fits = timing.fits(found.capacity_mib)
        peak = ("out of memory" if timing.out_of_memory is not None else "not measured"
                if timing.peak_memory_mib is None else f"{mib(timing.peak_memory_mib)} MiB")
        step = (f"{timing.step_s:.3g} s" if timing.step_s else f"fits ~{timing.fit_s:.3g} s" if timing.fit_s
                else f"across {timing.across} GPUs: not warmed up" if timing.across else "no training")
        table.add_row(plain(label), step, peak, "?" if fits is None else "[green]yes[/]" if fits else "[red]no[/]")
    return whole_words(table)


def state_memory_table(found: list[StateMemory], training: TrainingSpec) -> WholeWords:
    """Each method's weights, gradients and AdamW state by arithmetic (no model loaded): what a GPU holds
    before activations."""
    table = Table(title=f"Memory before activations: arithmetic at {training.precision}"
                        + (f", {training.quantization} base" if training.quantization != "none" else ""),
                  title_justify="left", caption="frozen weights, and trained ones with their gradients and AdamW's "
                  "two moments, in the dtypes the job holds them; autocast's copies of fp32 weights kept for "
                  "backward", caption_justify="left")
    for column, justify in [("method", "left"), ("frozen", "right"), ("trained\n+ grad + AdamW", "right"),
                            ("autocast\ncopies", "right"), ("total", "right")]:
        table.add_column(column, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]
    for m in found:
        frozen = f"{size(m.frozen_bytes + m.method_frozen_bytes)}\n{m.frozen_dtype}" if m.frozen_dtype else "-"
        trained = (f"{size(m.trained_bytes + m.gradient_bytes + m.optimizer_bytes)}\n{m.trained_dtype}"
                   if m.trained_dtype else "-")
        table.add_row(plain(m.label), frozen, trained, size(m.autocast_copy_bytes) if m.autocast_copy_bytes else "-",
                      size(m.total_bytes))
    return whole_words(table)


def gpu_sizing_table(plan: Plan) -> WholeWords | None:
    """GPUs per job of each method (sizing.py): what the recipe asked or `auto` found, and what each GPU holds
    of the weights, gradients and AdamW state at that count; None where every job is one process and there is
    no GPU to size for."""
    sizing = plan.sizing
    if not sizing or all(s.gpus == 1 and s.capacity_mib is None for s in sizing):
        return None
    capacity = next((s.capacity_mib for s in sizing if s.capacity_mib is not None), None)
    table = Table(title="GPUs per job" + (f": sized for {capacity / 1024:,.0f} GiB GPUs" if capacity else ""),
                  title_justify="left", caption_justify="left",
                  caption="auto: the fewest GPUs whose memory holds the sharded weights, gradients and AdamW state "
                  "within 80%, the rest left for activations" + ("" if capacity else "; no GPU here: processes"))
    for column, justify in [("method", "left"), ("GPUs\nper job", "right"), ("decided by", "left"),
                            ("per GPU before\nactivations", "right"), ("auto\nwould take", "right")]:
        table.add_column(column, justify=justify, no_wrap=justify == "right", overflow="fold")  # type: ignore[arg-type]
    for s in sizing:
        share = f" ({s.per_gpu_bytes / (s.capacity_mib * 2**20):.0%})" if s.capacity_mib else ""
        table.add_row(plain(s.label), str(s.gpus), s.how, size(s.per_gpu_bytes) + share,
                      "-" if s.needed is None else str(s.needed))
    return whole_words(table)
