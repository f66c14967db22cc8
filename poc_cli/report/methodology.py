"""How the section's numbers were made, enough to trace and repeat them: hardware and software,
the model's and data's fingerprints, splits and classes, truncation, the training settings,
seeds, parameter counts, how learning rates were set, the rules, and every job id."""

from __future__ import annotations


from poc_cli.compare import TRIVIAL_KIND
from poc_cli.records.sections import TrialRow
from poc_cli.report.common import Inputs, join, length_text, metric_name, split_name
from poc_cli.report.i18n import TEXT, reason_text, text
from poc_cli.stats import BOOTSTRAP, MCNEMAR, T_TEST


def _hardware(i: Inputs) -> str:
    run = i.any_run
    hw, device = run.environment.hardware, run.gpu.device
    parts = [device and device.name and f"{device.name} ({device.total_mib or 0:,.0f} MiB)",
             text(i.lang, "hw_cpu", cpus=hw.cpu_count, ram=f"{hw.memory_total_mib or 0:,}") if hw else None,
             hw.platform if hw else None]
    return ", ".join(p for p in parts if p) or "-"


def _software(i: Inputs) -> str:
    env = i.any_run.environment
    versions = ", ".join(f"{k} {v}" for k, v in env.packages.items() if v)
    if env.git_commit:
        versions += "; " + text(i.lang, "commit", commit=env.git_commit)
    return versions or "-"


def _model(i: Inputs) -> str:
    run = i.any_run
    name = run.job.recipe.model or "-"
    weights = run.model
    if weights.sha256:
        return text(i.lang, "model_hash", model=name, sha=weights.sha256,
                    files="-" if weights.files is None else weights.files, bytes=f"{weights.bytes or 0:,}")
    if weights.hub_commit:
        return text(i.lang, "model_commit", model=name, commit=weights.hub_commit)
    return name


def _data_files(i: Inputs) -> str:
    return "; ".join(text(i.lang, "data_file", path=s.path, sha=s.sha256, bytes=f"{s.bytes:,}")
                     for s in i.any_run.data.sources) or "-"


def _splits(i: Inputs) -> str:
    data = i.any_run.data
    counts = data.class_counts
    sep = "、" if i.lang == "ja" else "; "
    parts = []
    for split, n in data.sizes.items():
        classes = ", ".join(f"{label} {count:,}" for label, count in counts.get(split, {}).items()) or "-"
        parts.append(text(i.lang, "split_text", split=split_name(i.lang, split), n=f"{n:,}", classes=classes))
    return sep.join(parts) or "-"


def _fitting(i: Inputs) -> str:
    run = i.any_run
    length = run.job.recipe.training.max_length
    fitting = run.data.fitting
    sep = "、" if i.lang == "ja" else "; "
    parts = []
    for split, counts in fitting.items():
        n, cut, dropped = counts.examples, counts.truncated, counts.dropped
        if not cut and not dropped:
            continue
        total = n + dropped
        part = text(i.lang, "fitting_text", split=split_name(i.lang, split), cut=f"{cut:,}", n=f"{total:,}",
                    share=f"{100 * cut / total:.1f}%" if total else "-", length=length)
        parts.append(part + (text(i.lang, "fitting_dropped", dropped=f"{dropped:,}") if dropped else ""))
    return sep.join(parts) or text(i.lang, "no_truncation", length=length)


def _forecast(i: Inputs) -> tuple[str, str] | None:
    """For a forecasting recipe (its data has a horizon): how the windows were cut and what one test
    example is, in place of the truncation row (nothing is cut at max_length)."""
    data = i.any_run.job.recipe.data
    if not data.horizon:
        return None
    sizes = i.any_run.data.sizes
    return text(i.lang, "m_forecast"), text(
        i.lang, "forecast_text", horizon=data.horizon, context=data.context_length,
        season=data.season_length, windows=f"{sizes.get('train', 0):,}", series=f"{sizes.get('test', 0):,}",
        per=data.windows_per_series)


def _training(i: Inputs) -> str:
    training = i.any_run.job.recipe.training
    lrs = join(i.lang, [f"{i.name_of(r)} {r.lr:g}" for r in i.trained if r.lr is not None]) or "-"
    return text(i.lang, "training_text", length=length_text(i.lang, training),
                batch=training.batch_size, max_length=training.max_length,
                warmup=f"{100 * (training.warmup_ratio or 0):g}%", scheduler=_scheduler(i, training.scheduler),
                decay=f"{training.weight_decay or 0:g}", clip=f"{training.max_grad_norm or 0:g}",
                device=training.device, lrs=lrs)


def _compute(i: Inputs) -> str:
    """Precision and memory savers, from the full training settings the job ran with (a record from
    before these settings existed ran in fp32, one batch per step, nothing recomputed or quantized)."""
    training = i.any_run.job.recipe.training
    n = training.gradient_accumulation_steps
    accumulation = (text(i.lang, "accumulation_one") if n == 1 else
                    text(i.lang, "accumulation_n", n=n, effective=n * (training.batch_size or 0)))
    return text(i.lang, "compute_text", precision=training.precision, accumulation=accumulation,
                checkpointing=text(i.lang, "switch_on" if training.gradient_checkpointing else "switch_off"),
                quantization=text(i.lang, f"quant_{training.quantization}")) + _dtypes(i) + _batchnorm(i)


def _batchnorm(i: Inputs) -> str:
    """What the methods did with the model's BatchNorm layers, as their records say (nothing where the
    model has none, or the records predate the field)."""
    held: dict[str, list[str]] = {"frozen": [], "trained": []}
    layers = 0
    for row in i.trained:
        runtime = next((run.runtime for run in i.ok_runs[row.method].values() if run.runtime), None)
        if runtime and runtime.batchnorm:
            held[runtime.batchnorm.policy].append(i.name_of(row))
            layers = runtime.batchnorm.layers
    if not held["frozen"]:  # full fine-tuning alone: BatchNorm trains, as it always does there
        return ""
    frozen = join(i.lang, held["frozen"])
    if not held["trained"]:
        return text(i.lang, "batchnorm_frozen_only", layers=layers, frozen=frozen)
    return text(i.lang, "batchnorm_text", layers=layers, frozen=frozen, trained=join(i.lang, held["trained"]))


def _dtypes(i: Inputs) -> str:
    """The dtypes each method's parameters were loaded and trained in, as read off the built model
    (records from before schema 6 do not say: nothing is claimed for them)."""
    parts = []
    frozen_fp32 = False  # a store written before schema 8 held a frozen base in fp32 under a mixed precision
    for row in i.trained:
        runtime = next((run.runtime for run in i.ok_runs[row.method].values() if run.runtime), None)
        if runtime:
            dtypes = runtime.parameter_dtypes
            frozen_fp32 = frozen_fp32 or "float32" in dtypes.frozen
            none = text(i.lang, "dtypes_none")
            parts.append(text(i.lang, "dtypes_part", name=i.name_of(row), frozen=", ".join(dtypes.frozen) or none,
                              trained=", ".join(dtypes.trainable) or none))
    sep = "、" if i.lang == "ja" else "; "
    if not parts:
        return ""
    mixed = i.any_run.job.recipe.training.precision in ("bf16-mixed", "fp16-mixed") and not frozen_fp32
    return text(i.lang, "dtypes_text", parts=sep.join(parts)) + (text(i.lang, "dtypes_policy") if mixed else "")


def _scheduler(i: Inputs, name: str | None) -> str:
    key = f"sched_{name}"
    return text(i.lang, key) if key in TEXT[i.lang] else str(name)


def _parameters(i: Inputs) -> str:
    sep = "、" if i.lang == "ja" else "; "
    return sep.join(text(i.lang, "params_text" if r.adapter_parameters is not None else "params_text_all",
                         method=i.name_of(r), adapter=f"{r.adapter_parameters or 0:,}",
                         head=f"{r.head_parameters or 0:,}", trainable=f"{r.trainable_parameters or 0:,}",
                         total=f"{r.total_parameters or 0:,}") for r in i.trained) or "-"


def _rates(trials: list[TrialRow]) -> str:
    return ", ".join(sorted({f"{t.lr:g}" for t in trials}, key=float))


def _search(i: Inputs) -> str:
    """How each method's learning rate was set: the search and its grids, or fixed values."""
    lang, parts = i.lang, []
    searched = i.searched
    if searched:
        first = next(iter(searched.values()))
        grids = "; ".join(
            f"{i.name_of(method)}: " + _rates([t for t in s.trials if not t.added])
            + ("" if {t.alpha_ratio for t in s.trials} == {None} else
               " x alpha_ratio " + ", ".join(sorted({f'{t.alpha_ratio:g}' for t in s.trials}, key=float)))
            + (text(lang, "grid_added", lrs=_rates(added)) if (added := [t for t in s.trials if t.added]) else "")
            for method, s in searched.items())
        parts.append(text(lang, "search_text", grids=grids, metric=metric_name(lang, first.metric),
                          seed=first.seed, n_val=f"{first.examples.get('validation', 0):,}",
                          length=length_text(lang, first.trial_length)))
    fixed = [text(lang, "fixed_item", method=i.name_of(r), lr=f"{r.lr:g}", how=text(lang, "chosen_" + selection.how))
             for r in i.measured if r.method not in searched and (selection := i.selections[r.method]) and r.lr]
    if fixed:
        parts.append(text(lang, "fixed_text", methods=join(lang, fixed)))
    return " ".join(parts) or "-"


def _tests(i: Inputs) -> str:
    """Which one procedure made the differences against the baseline, in a sentence a manager reads."""
    compared = [r.difference for r in i.rows if r.difference is not None and r.method_kind != TRIVIAL_KIND]
    if not compared:
        return "-"
    first = compared[0]
    key = {T_TEST: "stats_t", MCNEMAR: "stats_mcnemar", BOOTSTRAP: "stats_bootstrap"}[first.method]
    sentence = text(i.lang, key, baseline=i.name_of(i.baseline), n=f"{first.n:,}", metric=metric_name(i.lang, i.metric))
    if first.adjusted_for > 1:
        sentence += text(i.lang, "stats_holm", m=first.adjusted_for, baseline=i.name_of(i.baseline))
    return sentence + text(i.lang, "stats_power")


def _jobs(i: Inputs) -> str:
    sep = "、" if i.lang == "ja" else "; "
    return sep.join(text(i.lang, "jobs_text", method=i.name_of(r.method), seed=text(i.lang, "seed"),
                         seed_n=r.seed, job=r.job_id) for r in sorted(i.records, key=lambda r: (r.method, r.seed)))


def methodology(i: Inputs) -> list[tuple[str, str]]:
    lang, run = i.lang, i.any_run
    allocation = run.job.allocation
    reference = next((r.learning.reference for r in i.trained if r.learning and r.learning.reference), None)
    return [
        (text(lang, "m_hardware"), _hardware(i)),
        (text(lang, "m_versions"), _software(i)),
        (text(lang, "m_model"), _model(i)),
        (text(lang, "m_data"), _data_files(i)),
        (text(lang, "m_splits"), _splits(i)),
        _forecast(i) or (text(lang, "m_fitting"), _fitting(i)),
        (text(lang, "m_training"), _training(i) + _compute(i)),
        (text(lang, "m_seeds"), text(lang, "seeds_text", seeds=", ".join(map(str, sorted({r.seed for r in i.records}))))),
        (text(lang, "m_budget"), text(lang, "budget_text_no_head" if allocation.head_parameters == 0 else "budget_text",
                                      budget=f"{allocation.budget or 0:,}", head=f"{allocation.head_parameters or 0:,}")),
        (text(lang, "m_params"), _parameters(i)),
        (text(lang, "m_search"), _search(i)),
        (text(lang, "m_stats"), _tests(i)),
        (text(lang, "m_rules"), text(lang, "rules_text")),
        (text(lang, "m_learned"), text(lang, "learned_text", metric=metric_name(lang, i.metric),
                                       reference=i.name_of(reference or "-"))),
        (text(lang, "m_jobs"), _jobs(i)),
        (text(lang, "m_skipped"), text(lang, "skipped_text", n=len(i.skipped), files="; ".join(i.skipped))
         if i.skipped else text(lang, "skipped_none")),
        (text(lang, "m_missing"), text(lang, "missing_gpu", reason=reason_text(lang, run.gpu.reason))
         if run.gpu.reason else text(lang, "nothing_missing")),
    ]
