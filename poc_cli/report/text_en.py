"""The report's text in English: one string per key, placeholders filled by `i18n.text`."""

from __future__ import annotations

EN: dict[str, str] = {
    "title": "Fine-tuning PoC: {recipe}",
    "subtitle": "LoRA, RandLoRA and full fine-tuning at the same number of trainable parameters",
    "generated": "Generated {date} from {n} stored runs.",
    "name_lora": "LoRA", "name_randlora": "RandLoRA", "name_dora": "DoRA", "name_rslora": "rsLoRA", "name_pissa": "PiSSA",
    "name_olora": "OLoRA", "name_vera": "VeRA", "name_full": "Full fine-tuning",
    "name_zero-shot": "Zero-shot (not trained)", "name_untuned": "Untuned model", "name_majority-class": "Majority class",
    "name_seasonal-naive": "Seasonal naive", "name_auto_ets": "AutoETS (exponential smoothing)",
    "name_auto_arima": "AutoARIMA", "name_auto_theta": "AutoTheta",
    # executive summary
    "h_summary": "Summary",
    "dec_did_not_learn": "No recommendation: {methods} did not learn.",
    "dec_unreliable": "No recommendation yet: a tuned learning rate did not hold up in its seeded runs.",
    "dec_full": "Adopt full fine-tuning.", "dec_randlora": "Adopt RandLoRA over LoRA.",
    "dec_lora": "Stay with LoRA: RandLoRA scores lower at the same budget.",
    "dec_inconclusive": "No measurable difference between RandLoRA and LoRA; use LoRA, the cheaper, for now.",
    "dec_better": "Adopt {method}: at the same budget it is significantly better than {baseline}.",
    "dec_none_better": "No method is measurably better than {baseline}; keep {baseline} for now.",
    "dec_insufficient": "No recommendation: the store lacks successful runs of LoRA or RandLoRA.",
    "dec_planners": "Do not fine-tune: no method is measurably better than {method}, a forecast planners "
                    "already make; keep it.",
    "confidence": "Confidence: {level} ({why}).",
    "conf_high": "high", "conf_medium": "medium", "conf_low": "low",
    "conf_why": "{seeds} seed(s) per method, {n} test examples",
    "trade": "Trade: {scores}. {resources}",
    "trade_scores": "{metric} {values}",
    "trade_memory": "peak {label} memory {values}", "trade_time": "training time per run {values}",
    "trade_cost": "cost per run {values}", "trade_loaded": " (timings taken under load, not clean)",
    "next_search": "Next step: the learning-rate search ({trials} trials) and the seeded runs at the chosen "
                   "rates: about {time} on this machine.",
    "next_research": "Next step: search again with trials as long as the runs ({trials} trials), then the "
                     "seeded runs: about {time} on this machine.",
    "next_seeds": "Next step: {more} more seed(s) per method ({total} in all), enough to detect a 2-point "
                  "difference at 80% power: about {time} on this machine.",
    "next_examples": "Next step: with {n} test examples this PoC can only detect differences of about "
                     "{detectable} points between RandLoRA and LoRA; a 2-point difference needs about {needed} "
                     "test examples: label more test data before deciding.",
    "next_power_limit": "Next step: these runs can only detect differences of about {detectable} points, and a "
                        "2-point difference would take more seeds or test data than a PoC has; if a smaller "
                        "difference does not matter to you, treat the two as equal and choose LoRA, the cheaper.",
    "next_production": "Next step: the production training with {method} ({examples} examples x {epochs} "
                       "epochs): about {time} and {cost} at the measured throughput.",
    "next_target": "Next step: set cost.target_train_examples and cost.target_epochs to price the production "
                   "training with {method} (one PoC run took {time}).",
    "next_missing": "Next step: run the recipe again (poc run) so that LoRA and RandLoRA both complete.",
    "next_diverged": "Next step: lower the learning rate of {methods}, whose training diverged (a rerun would "
                     "diverge again), or let the search choose it (search: true).",
    "h_conclusion": "Conclusion",  # conclusion
    "unit_points": "points",
    "rule_full": "Recommendation: full fine-tuning. Its {metric} is {gain} better than {best}'s "
                 "({level}% interval {lo} to {hi}), and its peak memory ({mem}) fits the memory available.",
    "rule_randlora": "Recommendation: RandLoRA. At the same number of trainable parameters its {metric} is "
                     "{gain} better than LoRA's ({level}% interval {lo} to {hi}). A training run takes {ratio}x "
                     "LoRA's time.",
    "rule_lora": "Recommendation: LoRA. At the same number of trainable parameters RandLoRA's {metric} is "
                 "{loss} worse ({level}% interval {lo} to {hi}).",
    "rule_inconclusive": "Inconclusive: at the same number of trainable parameters there is no significant "
                         "difference in {metric} between RandLoRA and LoRA ({diff}, {level}% interval {lo} to "
                         "{hi}). Until the next step in the summary settles it, LoRA is the lower-cost choice.",
    "rule_unreliable": "No recommendation yet: the learning rate the search chose for {methods} did not hold "
                       "up in the seeded runs (see Risks), so a difference now would measure a tuning failure, "
                       "not the methods. Search again with trials as long as the runs, then run again.",
    "rule_insufficient": "No recommendation: the store does not hold successful runs of both LoRA and RandLoRA.",
    "classical_config": "{model} fitted on each series' whole history before the test window (a forecast planners "
                        "run today)",
    "classical_short": "; {n} series under two seasons, fitted without seasonality (as statsforecast does)",
    "classical_fell_back": "; {n} series the model refused, forecast by seasonal naive instead",
    "c_planners": "vs the best classical forecast [95%]",
    "planners_better": "better than {best}", "planners_not_better": "not better than {best}",
    "fit_time": "fit {time} (CPU)",
    "rule_planners": "Not better than what planners have: {methods} {verb} not significantly better than {best} "
                     "({metric} {score}), the best of the classical forecasts planners run today (exponential "
                     "smoothing, ARIMA and Theta, each fitted on every series' history). No fine-tuned method is "
                     "recommended; keep {best}.",
    "planners_left_out": "{methods} {verb} not significantly better than {best} ({metric} {score}), the best of "
                         "the classical forecasts planners run today, and {verb2} left out.",
    "next_planners": "Keep {method}. Fine-tuning pays only once a model is significantly better than it on these "
                     "series: try more history or series, a larger model, or a longer context before spending on a "
                     "production run.",
    "rule_better": "Recommendation: {method}. At the same number of trainable parameters its {metric} is {gain} "
                   "better than {baseline}'s ({level}% interval {lo} to {hi}{holm}); of the methods significantly "
                   "better than {baseline}, it scores best.",
    "holm_p": "; p = {p} after Holm's adjustment for {m} comparisons",
    "rule_none_better": "Inconclusive: at the same number of trainable parameters no method is significantly "
                        "better than {baseline} in {metric}. Until the next step in the summary settles it, "
                        "{baseline} stays the choice.",
    "rule_none_other": " No other method is significantly better than {baseline} either.",
    "headline": "RandLoRA against LoRA: {diff} ({level}% interval {lo} to {hi}), {sig}.",
    "sig_yes": "a significant difference", "sig_no": "not a significant difference",
    "rule_did_not_learn": "Did not learn: {reasons}. No method can be recommended from these runs: a comparison "
                          "with a model that learned nothing measures the failure, not the method. Try the "
                          "learning-rate search (search: true) or more epochs (see Risks).",
    "dnl_other_learned": "{method} did learn ({score}, {gain} points above {reference}).",
    "dnl_left_out": "Did not learn: {reasons}; left out of the decision.",
    "dnl_one_answer": "{method} gave the same answer for {share}% of the test examples",
    "dnl_no_gain": "{method}'s {metric} ({score}) is not significantly better than {reference} ({ref})",
    "conclusion_forgetting": "Forgetting (the rise of the loss on general text, lower is better): RandLoRA "
                             "{r} nats, LoRA {l} nats.",
    "rules_note": "The recommendation follows fixed rules, described under Methodology.",
    "h_quality": "Quality",  # quality table
    "h_ranking": "Ranking at the same budget", "c_rank": "#", "c_params_short": "Trainable parameters",
    "c_front": "Pareto front", "front_memory": "memory", "front_time": "time", "off_budget_mark": "(off budget)",
    "ranking_note": "Ranked by mean score. Δ: the paired difference against {baseline} with its interval; with "
                    "several methods compared, p is Holm-adjusted and the interval widened to match. Pareto "
                    "front: no other method has a higher mean score at lower peak memory (or training time); a "
                    "time measured under load (‡) is left off the time front.",
    "off_budget_note": "(off budget): the method cannot reach the budget and ran at the count it reaches, as "
                       "its recipe allowed; its difference compares unequal parameter counts.",
    "c_method": "Method", "c_config": "Configuration; how it was chosen",
    "c_score": "{metric} % [95% interval]", "c_other": "{metric}",
    "c_diff": "vs {baseline}, points [95% interval]", "c_diff_value": "vs {baseline} [95% interval]", "c_p": "p", "c_p_holm": "p (Holm, {m} comparisons)", "c_words": "In words",
    "c_learned": "Learned?",
    "learned_yes": "yes", "learned_one": "no: one answer for {share}%",
    "learned_no_gain": "no: not better than {reference}",
    "words": "{count} {direction} correct out of {n}", "words_seeds": "about {count} {direction} correct out of "
                                                                      "{n} per seed",
    "more": "more", "fewer": "fewer", "words_same": "as many correct",
    "reference": "reference", "not_significant": "not significant",
    "could_detect": "could detect {value}",
    "trivial_config_majority-class": "always the test split's most frequent class (learns nothing)",
    "trivial_config_seasonal-naive": "every point forecast as the value one season earlier (learns nothing)",
    "quality_note": "Scores: mean over the seeds with its 95% interval ({how}). Differences are paired "
                    "against {baseline} on the same seeds and test examples; \"points\" are percentage points. "
                    "Each difference's interval and p come from one test (see Methodology, Statistical tests), "
                    "so they always agree; an interval above 95% is marked with its level. Not significant: "
                    "the interval includes zero, so these data cannot tell the two apart; beside it, the "
                    "smallest difference this PoC could have detected (80% power).",
    "how_seeds": "t-interval over seeds", "how_examples": "bootstrap over the test examples, one seed",
    "h_resources": "Resources",  # resources table
    "c_params": "Trainable parameters (share of model)", "c_memory": "Peak memory, MiB",
    "c_time": "Training time", "c_throughput": "Examples/s", "c_energy": "Energy",
    "c_cost": "Cost per run", "c_adapter": "Saved size, MiB", "c_runs": "Runs",
    "c_gpus": "GPUs per job", "c_procs": "Processes per job",
    "gpus_note": "A job across several GPUs (FSDP2) shows its fullest GPU's peak (on a CPU, its processes' peaks "
    "summed) and costs its GPUs x its time.",
    "params_cell": "adapter {adapter} + head {head} = {total} ({share})",
    "params_all": "all {total} ({share})", "params_none": "none",
    "mem_gpu": "GPU", "mem_host": "host RAM", "not_measured": "not measured",
    "resources_note": "Trainable parameters: the adapter (matched to the budget) plus the task's head, which "
                      "every method trains; share of the model's {total} parameters. Memory and sizes in MiB "
                      "(1 MiB = 2^20 bytes). Host RAM: the job process's peak resident memory (no GPU ran).",
    "time_note": "Training time is at the steady step rate: the first {steps} optimizer steps of each run "
                 "(kernel and library set-up, optimizer state; {warmup} on average) are timed apart, as they are "
                 "not the method's. The cost is on the whole wall time, warm-up included, which was paid.",
    "loaded_note": "‡ Measured while other processes kept up to {cores} CPU cores busy: this time and cost are "
                   "not a clean measurement. Rerun on a quiet machine before comparing them.",
    "all_parameters": "all parameters", "nothing_trained": "nothing trained",
    "seed": "seed",
    "st_ok": "ok", "st_failed": "failed", "st_oom": "out of memory", "st_timeout": "timed out",
    "st_interrupted": "interrupted", "st_diverged": "diverged",
    "st_pruned": "stopped at step {steps} of {total} (halving)", "rung_score": "{score} at step {steps}",
    "chosen_search": "search: best of {n} trials{beyond} (validation {metric} {score}%{runs})", "chosen_runs": "; seeded runs {runs}%",
    "chosen_beyond": ", {n} of them added beyond the grid's edge",
    "chosen_recipe": "fixed in the recipe", "chosen_default": "poc's default",
    "chosen_reference": "the pretrained model, not trained", "chosen_trivial": "computed, nothing ran",
    "metric_accuracy": "accuracy", "metric_macro_f1": "macro-F1", "metric_exact_match": "exact match",
    "metric_contains": "contains-match", "metric_choice_accuracy": "multiple-choice accuracy",
    "metric_response_loss": "response loss", "metric_perplexity": "perplexity",
    "metric_forgetting": "forgetting (rise of the loss on general text)",
    "metric_mase": "MASE", "metric_smape": "sMAPE", "metric_wql": "weighted quantile loss",
    "h_memory": "Memory and GPU sizing",  # memory
    "memory_cpu": "No GPU ran. The memory above is host RAM (the peak resident memory of each job's process); it "
                  "does not size a GPU, where weights, activations and optimizer state live in GPU memory and "
                  "the methods rank differently. Run the recipe on a GPU (training.device: cuda) for a sizing "
                  "table.",
    "c_gpu_peak": "GPU peak with CUDA context, MiB", "c_reserved": "torch reserved peak, MiB",
    "c_fits": "fits {size} GB", "yes": "yes", "no": "no",
    "sizing_note": "Measured on {gpu}. A GPU fits when the job's peak (NVML, the process's memory including the "
                   "CUDA context) stays below 95% of its memory.",
    # cost
    "h_cost": "Cost", "h_cost_poc": "Cost at PoC scale",
    "c_cost_run": "Cost per PoC run", "c_energy_cost": "Energy cost",
    "c_projection": "Production training (projected)",
    "c_per_point": "Extra cost per {metric} point vs {baseline}", "per_point_ns": "- (no significant gain)",
    "per_point_dnl": "- ({baseline} did not learn)",
    "projection_target": "Projected: {examples} examples x {epochs} epochs (cost.target_train_examples, "
                         "cost.target_epochs) at each method's measured throughput.",
    "projection_poc": "At PoC scale: {examples} examples x {epochs} epochs, what the PoC trained. Set "
                      "cost.target_train_examples and cost.target_epochs to project the production training.",
    "poc_cost": "This PoC: {jobs} training jobs, {time} of training, {cost} at this price.",
    "price_user": "Price: {price} per hour, from the recipe or command line.",
    "price_assumed": "Price: {price} per hour, an assumption: the typical cloud price of {what}.",
    "what_cpu": "a small CPU virtual machine",
    "no_business": "Add a business block to the recipe (positive_class, cost_missed, cost_false_alarm, "
                   "monthly_items, minutes_per_item, hourly_rate) to turn detection and false-alarm rates into a "
                   "monthly value and a payback period.",
    # business
    "h_business": "Business impact",
    "business_note": "Positive class: {positive}. {items} items a month, {minutes} minutes of manual work "
                     "each; a miss costs {missed}, a false alarm {alarm}. Rates are pooled over the seeds' test "
                     "predictions, with their 95% Wilson intervals; the ranges of the monthly value and the "
                     "payback follow from those intervals.",
    "business_unreliable": "Only {n} positive test examples: the detection rate, and every figure below that "
                           "follows from it, cannot be relied on. A detection rate within ±5 points needs about "
                           "{needed} positive test examples.",
    "detects_nothing": "{method} detected none of the {n} positive test examples: its monthly value ({value}) "
                       "comes from automated work alone, not from detection.",
    "c_detection": "Detection rate [95%]", "c_false_alarm": "False-alarm rate [95%]", "c_precision": "Precision",
    "c_confusion": "Found / missed / false alarms / correct passes",
    "c_work": "Work saved / month (hours / value)", "c_missed_cost": "Misses / month (count / cost)",
    "c_alarm_cost": "False alarms / month (count / cost)", "c_value": "Value / month [range]",
    "c_payback": "Payback [range]",
    "forecast_business_note": "A unit forecast too low (a lost sale) costs {under}, a unit too high (held or "
                              "disposed of) {over}; the forecasts cover {volume} units a month. Each method's "
                              "units short and in excess per unit of actual demand on the test windows, scaled to "
                              "that volume (seeds averaged per series).",
    "forecast_against_seasonal-naive": "Saving: against seasonal naive (each month the value a season earlier), "
                                       "{cost} a month; its range is a 95% bootstrap over the test series.",
    "forecast_against_current": "Saving: against today's forecasts, estimated at {cost} a month from their "
                                "stated MASE {mase} (seasonal naive scores {naive} on this test; its cost is "
                                "scaled by that ratio, assuming today's errors split into too low and too high as "
                                "seasonal naive's do); its range is a 95% bootstrap over the test series.",
    "forecast_against_classical": "Saving: against {best}, the best of the classical forecasts planners run "
                                  "today ({cost} a month), what the company would otherwise use (no "
                                  "business.current_mase was given); its range is a 95% bootstrap over the test "
                                  "series.",
    "forecast_behind": "{method} is not significantly better than {best}, a forecast planners already make: whatever "
                       "it saves, {best} saves as well; read its row as no gain from fine-tuning.",
    "forecast_classical_cost": "The classical rows were fitted in {times} of wall time ({cpu} of CPU, no GPU), "
                               "about {cost} on a small CPU machine: set beside the fine-tuning's cost under "
                               "Resources.",
    "c_saving_classical": "Saving vs the best classical forecast / month [95%]",
    "forecast_payback_note": "Payback = (the method's production training plus this PoC's {poc}) / the "
                             "monthly saving.",
    "forecast_dnl": "{method} is not significantly better than seasonal naive (it did not learn): whatever it "
                    "saves, seasonal naive would save as well; read its row as no gain from fine-tuning.",
    "c_under_units": "Units short / month", "c_over_units": "Units in excess / month",
    "c_error_cost": "Cost of errors / month", "c_saving_seasonal-naive": "Saving vs seasonal naive / month [95%]",
    "c_saving_current": "Saving vs today's forecasts / month [95%]",
    "payback_note": "Payback = (training {which}, {training_cost} for {method}, plus this PoC's {poc}) / the "
                    "monthly value.",
    "payback_target": "at production scale", "payback_poc": "at PoC scale",
    # charts
    # load profile (poc profile)
    "h_load": "Load estimate across batch sizes",
    "load_intro": "Measured by poc profile on {device} at {precision} ({date}): {steps} timed training steps per "
                  "batch size after {warmup} warm-up steps, one batch per step (no accumulation), at most "
                  "{max_length} tokens per example. Step time is the median of those steps in one profile: no "
                  "interval, so small differences are not evidence. Peak memory: {scope}.",
    "load_cpu": "No GPU ran the profile: its memory is host RAM and does not size a GPU.",
    "load_fit": "Largest measured batch within {limit}: {items}.",
    "load_fit_none": "none of those measured",
    "load_limit_set": "report.memory_limit_mib ({mib} MiB)", "load_limit_device": "the device's {mib} MiB",
    "load_bases": "{name} with sparse bases: peft keeps sparse bases as dense tensors, so they change which "
                  "update is learned, not the work or memory of a step. Measured at batch {batch}: {items} of "
                  "the dense bases' step time.",
    "load_differs": "The profile's {what} differs from the runs' (profile: {profile}; runs: {runs}): its "
                    "figures describe the profiled setting.",
    "bases_dense": "dense", "bases_sparse": "sparse", "bases_very sparse": "very sparse",
    "bases_variant": "{bases} (variant)",
    "c_bases": "Bases", "c_batch": "Batch", "c_step": "Step time", "c_examples_s": "Examples/s",
    "c_tokens_s": "Tokens/s", "c_peak_mib": "Peak memory, MiB",
    "st_skipped": "skipped (a smaller batch ran out of memory)",
    "ch_throughput": "Training throughput by batch size", "ch_load_memory": "Peak memory by batch size",
    "ax_batch": "batch size", "ax_examples_s": "examples per second", "ax_peak_mib": "peak memory, MiB",
    "limit_line": "limit {mib} MiB",
    "what_model": "model", "what_precision": "precision", "what_device": "device",
    "what_max_length": "max_length",
    "scope_gpu": "torch's reserved peak plus the {context} MiB the GPU held outside torch after the first kernels (CUDA context and libraries)",
    "scope_host": "resident memory (RSS) of the profiling process, host RAM",
    "h_charts": "Charts",
    "ch_scores": "{Metric} with 95% interval", "ch_params": "{Metric} against trainable parameters",
    "ch_cost": "{Metric} against cost per run", "ch_cost_loaded": "{Metric} against cost per run (‡ under load)",
    "ch_gpu": "{Metric} against GPU peak memory", "ch_loss": "Training loss (seed {seed})",
    "ch_front_memory": "{Metric} against peak memory: the Pareto front (numbers: ranks in the ranking table)",
    "ch_front_time": "{Metric} against training time: the Pareto front (numbers: ranks in the ranking table)",
    "front_label": "Pareto front (means)",
    "front_note": "Pareto front: the methods whose mean score no other method beats at lower cost; it is read "
                  "from the means, so where two intervals overlap the order of their scores is not established.", "ax_memory_host": "host RAM peak (MiB; no GPU ran)",
    "ax_time": "training time per run (s)",
    "ch_sensitivity": "Validation {metric} against learning rate (search trials)",
    "ax_params": "trainable parameters (log scale)", "ax_metric": "{metric} (%)", "ax_metric_unit": "{metric} ({unit})",
    "ax_gpu": "GPU peak memory (MiB)", "ax_cost": "cost per run ({currency})", "ax_step": "step", "ax_loss": "loss",
    "ax_lr": "learning rate (log scale)", "ax_validation": "validation {metric} (%)",
    "chart_ns": "n.s. vs {baseline}", "chart_dnl": "did not learn", "chart_ref": "{name} {value}",
    "charts_note": "Bars: 95% intervals. The score axis starts at zero or at the trivial reference, "
                   "never closer. n.s.: no significant difference from {baseline}.",
    # search
    "h_search": "Learning-rate search (validation split)", "c_lr": "Learning rate", "c_status": "Status",
    "c_val_score": "Validation {metric} %", "chosen_mark": "chosen", "added_mark": "added beyond the grid",
    # risks
    "h_risk": "Risks and limits",
    "risk_dnl": "{reason}: it did not learn. What to try: the learning-rate search (search: true), "
                "more epochs (training.epochs), and a look at the labels and at the share of inputs cut at "
                "max_length.",
    "risk_loaded": "Time and cost of {methods} were measured under load (other processes kept up to {cores} CPU "
                   "cores busy); do not compare them until rerun on a quiet machine.",
    "risk_failed": "{n} run(s) did not finish: {which}.",
    "risk_one_seed": "Only one seed per method: intervals come from resampling test examples and leave out "
                     "seed-to-seed variation.",
    "risk_no_gpu": "No GPU was present: memory is host RAM, not GPU memory, and energy was not measured.",
    "risk_warning": "{method}: {warning}",
    "risk_none": "No failed runs or warnings.",
    "risk_narrow": "{method}: the good learning-rate region is narrow. Its best learning rate, {lr}, scored "
                   "{best}%, and neither neighbour on the grid ({neighbours}) came within {within} points. A "
                   "team that cannot re-tune it in production risks a large loss from a small change in data "
                   "or schedule.",
    "risk_not_held": "{method}: the chosen setting did not hold up. The seeded runs scored {runs}% on the "
                     "validation split, {drop} points below the winning trial's {trial}%. {why}Do not rely on "
                     "this method's figures until it has been searched again.",
    "why_shorter": "Its trials trained {trial_len} and the seeded runs {run_len}; a shorter schedule favours a "
                   "larger learning rate. Search with trials as long as the runs (leave out search.epochs and "
                   "search.steps). ",
    "risk_edge": "{method}: the best learning rate ({lr}) is at the edge of the searched grid, so the true "
                 "optimum may lie outside it; widen the grid (methods[].search.lr).",
    "risk_edge_limit": "{method}: the best learning rate ({lr}) is still at the edge after {n} trial(s) added beyond the "
                       "grid (search.edge_steps): the optimum may lie further out; raise search.edge_steps.",
    "risk_diverged": "{method}: {n} of {total} search trials diverged (the loss exploded); they were stopped "
                     "and could not be chosen.",
    "risk_not_tuned": "Learning rate not tuned on validation data for: {methods}. At PoC sizes the learning "
                      "rate can decide the ranking; add search: true to the recipe.",
    # methodology
    "h_method": "Methodology",
    "m_hardware": "Hardware", "m_versions": "Software", "m_model": "Model", "m_data": "Data files",
    "m_forecast": "Forecast windows",
    "forecast_text": "Each of the {series} test series is forecast {horizon} points ahead from its last {context} "
                     "points (season {season}); one test example is one series' forecast, so the intervals and "
                     "paired tests resample series. Validation: the {horizon} points before the test window. "
                     "Training: {windows} windows (at most {per} per series, drawn with the split seed) from "
                     "what lies before validation; no window reads a validation or test value. MASE divides "
                     "each series' mean absolute error by its in-sample seasonal-naive error.",
    "m_splits": "Splits and classes", "m_fitting": "Inputs cut at max_length", "m_training": "Training settings",
    "m_seeds": "Seeds", "m_budget": "Budget matching", "m_params": "Parameter counts", "m_search": "Learning rates",
    "m_rules": "Decision rules", "m_stats": "Statistical tests", "m_learned": "\"Did not learn\"", "m_jobs": "Job ids", "m_missing": "Not measured",
    "hw_cpu": "{cpus} CPU cores, {ram} MiB RAM", "commit": "poc commit {commit}",
    "model_hash": "{model} (sha256 {sha}, {files} files, {bytes} bytes)", "model_commit": "{model} (hub commit {commit})",
    "data_file": "{path} (sha256 {sha}, {bytes} bytes)",
    "split_text": "{split} {n} ({classes})",
    "split_train": "train", "split_validation": "validation", "split_test": "test", "fitting_text": "{split}: {cut} of {n} ({share}) cut at max_length {length}",
    "fitting_dropped": ", {dropped} dropped (prompt longer than max_length)",
    "no_truncation": "none (every input fits max_length {length})",
    "training_text": "{length}, batch size {batch}, max_length {max_length}, warmup {warmup} of the steps, {scheduler} "
                     "schedule, weight decay {decay}, gradient clipping at {clip}, device {device}; learning rates: "
                     "{lrs}.",
    "compute_text": " Precision {precision}; gradient checkpointing {checkpointing}; {accumulation}; base weights "
                    "{quantization}.",
    "dtypes_text": " Parameters as loaded and trained, read off each job's model: {parts}.",
    "dtypes_policy": " Under a mixed precision a frozen base is held in the compute dtype, as every PEFT tool holds "
                     "it (2 bytes a parameter, no fp32 copy), and only what trains (adapters, head) is fp32; full "
                     "fine-tuning keeps fp32 master weights of every parameter. Each method is charged the memory it "
                     "would take in production.",
    "dtypes_part": "{name} frozen {frozen}, trained {trained}", "dtypes_none": "none",
    "accumulation_one": "one batch per optimizer step",
    "accumulation_n": "{n} batches accumulated per optimizer step (effective batch {effective})",
    "switch_on": "on",
    "switch_off": "off",
    "quant_none": "not quantized",
    "quant_nf4": "4-bit NF4 (frozen)",
    "quant_int8": "8-bit (frozen)",
    "params_text": "{method}: adapter {adapter}, head {head}, trainable {trainable} of {total}",
    "params_text_all": "{method}: trainable {trainable} of {total} (every parameter)",
    "budget_text": "Each PEFT method's setting was chosen so that its count of trainable adapter parameters, "
                   "exactly as peft counts them, is closest to the budget of {budget}; the classification head "
                   "({head} parameters) is trained by every method and counted apart.",
    "budget_text_no_head": "Each PEFT method's setting was chosen so that its count of trainable adapter "
                           "parameters, exactly as peft counts them, is closest to the budget of {budget}. The "
                           "task adds no head.",
    "rules_text": "0. None when LoRA or RandLoRA did not learn, or while a searched setting did not hold up in its "
                  "seeded runs. 1. Full fine-tuning when it learned, is significantly better than the best PEFT "
                  "method and fits the memory limit. 2. RandLoRA when significantly better than LoRA. 3. LoRA "
                  "when significantly better than RandLoRA. 4. Otherwise inconclusive. Significant: the interval "
                  "of the paired difference excludes zero, after the adjustment for several comparisons where "
                  "there is one (see Statistical tests).",
    "stats_t": "Each method is compared with {baseline} by a paired t-test over the {n} seeds; the interval "
               "shown is that test's t interval, so the two always agree on significance.",
    "stats_mcnemar": "With one seed, each method is compared with {baseline} on the same {n} test examples by "
                     "McNemar's exact test, which counts only the examples exactly one of the two got right; "
                     "the interval for the difference in {metric} is the exact interval of that same test, so "
                     "the two always agree on significance.",
    "stats_bootstrap": "With one seed, each method is compared with {baseline} on the same {n} test examples by "
                       "a paired bootstrap (10,000 resamples); the interval and p come from the same resamples, "
                       "so they agree on significance.",
    "stats_holm": " {m} methods are compared with {baseline}, so Holm's method adjusts their p-values, and each "
                  "interval is taken at the level Holm's step used for it: a difference counts as significant "
                  "only after the adjustment.",
    "stats_power": " Beside a difference that is not significant stands the smallest difference the same test "
                   "detects with 80% power on these data, and the seeds or test examples a 2-point difference "
                   "would need.",
    "learned_text": "A trained method did not learn when it gave the same answer for at least 95% of the test "
                    "examples, or when its {metric} is not significantly better than {reference} (same paired "
                    "statistics as every other comparison).",
    "seeds_text": "{seeds}: the same seeds for every method (head initialisation, data order, dropout, "
                  "RandLoRA's random bases).",
    "jobs_text": "{method} {seed} {seed_n}: {job}",
    "m_skipped": "Damaged records", "skipped_none": "none: every record file in the recipe's folder was read.",
    "skipped_text": "{n} file(s) in the recipe's folder could not be read as records and are left out of every "
                    "figure: {files}.",
    "search_text": "Each searched method's setting was chosen by {metric} on the validation split ({n_val} "
                   "examples; the test split was never read). Grids: {grids}. Each trial trained {length} at "
                   "seed {seed}; ties went to the smaller learning rate; diverged trials were stopped and could "
                   "not win. The seeded runs then trained at the chosen setting.",
    "length_epochs": "{n} epoch(s)", "length_steps": "{n} steps", "grid_added": " (then {lrs} beyond its edge)",
    "fixed_text": "Not searched: {methods}.", "fixed_item": "{method} {lr} ({how})",
    "missing_gpu": "GPU memory and energy: {reason}.",
    "nothing_missing": "Everything listed above was measured.",
}
