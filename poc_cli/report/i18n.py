"""Report text in English and Japanese.

The Japanese is written for a Japanese manager (polite register, Japanese word order and
units), not translated word by word. Placeholders are filled with numbers already
formatted by the report; user-written names are escaped by the template.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Fine-tuning PoC: {recipe}",
        "subtitle": "LoRA, RandLoRA and full fine-tuning at the same number of trainable parameters",
        "generated": "Generated {date} from {n} stored runs.",
        "h_conclusion": "Conclusion",
        "rule_full": "Recommendation: full fine-tuning. Its {metric} is {gain} points higher than {best}'s "
                     "(95% interval {lo} to {hi}), and its peak memory ({mem}) fits the memory available.",
        "rule_randlora": "Recommendation: RandLoRA. At the same number of trainable parameters its {metric} is "
                         "{gain} points higher than LoRA's (95% interval {lo} to {hi}). A training run takes {ratio}x "
                         "LoRA's time.",
        "rule_lora": "Recommendation: LoRA. At the same number of trainable parameters RandLoRA's {metric} is "
                     "{loss} points lower (95% interval {lo} to {hi}).",
        "rule_inconclusive": "Inconclusive: at the same number of trainable parameters there is no significant "
                             "difference in {metric} between RandLoRA and LoRA ({diff} points, 95% interval {lo} to "
                             "{hi}). "
                             "More seeds or more data are needed; until then LoRA is the lower-cost choice.",
        "rule_unreliable": "No recommendation yet: the learning rate the search chose for {methods} did not hold "
                           "up in the seeded runs (see Risks), so a difference now would measure a tuning failure, "
                           "not the methods. Search again with trials as long as the runs, then run again.",
        "rule_insufficient": "No recommendation: the store does not hold successful runs of both LoRA and RandLoRA.",
        "rules_note": "The recommendation follows fixed rules, described under Methodology.",
        "h_table": "Comparison",
        "table_note": "{metrics} in %, mean ± standard deviation over seeds (n). Differences are "
                      "paired against {baseline}.",
        "c_method": "Method", "c_config": "Configuration; how it was chosen",
        "c_trainable": "Trainable parameters (share)",
        "c_metric": "{metric} %", "c_diff": "Difference vs {baseline} (95% interval)",
        "c_memory": "Peak memory", "c_time": "Training time", "c_throughput": "Examples/s", "c_energy": "Energy",
        "c_cost": "Cost per run", "c_adapter": "Saved size", "c_runs": "Runs",
        "reference": "reference", "not_significant": "no significant difference", "all_parameters": "all parameters",
        "not_measured": "not measured",
        "mem_gpu": "GPU, NVML", "mem_host": "host RSS, no GPU", "seed": "seed",
        "st_ok": "ok", "st_failed": "failed", "st_oom": "out of memory", "st_timeout": "timed out",
        "st_interrupted": "interrupted",
        "chosen_search": "search: best of {n} trials (validation {metric} {score}%; seeded runs {runs}%)",
        "chosen_recipe": "fixed in the recipe", "chosen_default": "poc's default",
        "metric_accuracy": "accuracy", "metric_macro_f1": "macro-F1", "metric_exact_match": "exact match",
        "metric_contains": "contains-match", "metric_choice_accuracy": "multiple-choice accuracy",
        "metric_response_loss": "response loss", "metric_perplexity": "perplexity",
        "metric_forgetting": "forgetting (rise of the loss on general text)",
        "chosen_reference": "the pretrained model, not trained", "nothing_trained": "nothing trained",
        "st_diverged": "diverged",
        "ch_sensitivity": "Validation {metric} against learning rate (search trials)",
        "ax_lr": "learning rate (log scale)", "ax_validation": "validation {metric} (%)",
        "risk_narrow": "{method}: the good learning-rate region is narrow. Its best learning rate, {lr}, scored "
                       "{best}%, and neither neighbour on the grid ({neighbours}) came within {within} points. A "
                       "team that cannot re-tune it in production risks a large loss of accuracy from a small "
                       "change in data or schedule.",
        "risk_not_held": "{method}: the chosen setting did not hold up. The seeded runs scored {runs}% on the "
                         "validation split, {drop} points below the winning trial's {trial}%. {why}Do not rely on "
                         "this method's figures until it has been searched again.",
        "why_shorter": "Its trials trained {trial_len} and the seeded runs {run_len}; a shorter schedule favours a "
                       "larger learning rate. Search with trials as long as the runs (leave out search.epochs and "
                       "search.steps). ",
        "risk_edge": "{method}: the best learning rate ({lr}) is at the edge of the searched grid, so the true "
                     "optimum may lie outside it; widen the grid (methods[].search.lr).",
        "risk_diverged": "{method}: {n} of {total} search trials diverged (the loss exploded); they were stopped "
                         "and could not be chosen.",
        "risk_not_tuned": "Learning rate not tuned on validation data for: {methods}. At PoC sizes the learning "
                          "rate can decide the ranking; add search: true to the recipe.",
        "m_search": "Learning rates",
        "search_text": "Each searched method's setting was chosen by {metric} on the validation split ({n_val} "
                       "examples; the test split was never read). Grids: {grids}. Each trial trained {length} at "
                       "seed {seed}; ties went to the smaller learning rate; diverged trials were stopped and could "
                       "not win. The seeded runs then trained at the chosen setting.",
        "length_epochs": "{n} epoch(s)", "length_steps": "{n} steps",
        "h_search": "Learning-rate search (validation split)", "c_lr": "Learning rate", "c_status": "Status",
        "c_score": "Validation {metric} %", "chosen_mark": "chosen",
        "fixed_text": "Not searched: {methods}.", "fixed_item": "{method} {lr} ({how})",
        "h_charts": "Charts",
        "ch_params": "{Metric} against trainable parameters", "ch_memory": "{Metric} against peak memory",
        "ch_cost": "{Metric} against cost per run", "ch_loss": "Training loss (seed {seed})",
        "ax_params": "trainable parameters (log scale)", "ax_metric": "{metric} (%)",
        "ax_memory": "peak memory (MiB)", "ax_cost": "cost per run ({currency})", "ax_step": "step", "ax_loss": "loss",
        "pareto": "Best trade-offs (Pareto front): against memory {memory}; against cost {cost}.",
        "h_cost": "Cost",
        "c_energy_cost": "Energy cost", "c_projection": "Full-scale training (projected)",
        "c_per_point": "Extra cost per {metric} point vs {baseline}",
        "projection_note": "Projection: {examples} examples x {epochs} epochs at the measured throughput.",
        "price_user": "Price: {price} {currency} per hour, from the recipe or command line.",
        "price_assumed": "Price: {price} {currency} per hour, an assumption: the typical cloud price of {what}.",
        "what_cpu": "a small CPU virtual machine",
        "h_business": "Business impact",
        "business_note": "Positive class: {positive}. {items} items a month, {minutes} minutes of manual work "
                         "each; a miss costs {missed} {currency}, a false alarm {alarm} {currency}.",
        "c_detection": "Detection rate", "c_false_alarm": "False-alarm rate", "c_precision": "Precision",
        "c_missed": "Missed / month", "c_alarms": "False alarms / month", "c_error_cost": "Error cost / month",
        "c_hours": "Hours saved / month", "c_value": "Value / month", "c_payback": "Payback (months)",
        "never": "does not pay back",
        "h_talking": "Talking points for the decision meeting",
        "tp_budget": "At {budget} trainable adapter parameters ({pct} of the model), RandLoRA reached {acc_r}% and "
                     "LoRA {acc_l}% {metric} (mean of {n} seed(s)).",
        "tp_full": "Full fine-tuning, which trains all {params} parameters, reached {acc_f}%.",
        "conclusion_forgetting": "Forgetting (the rise of the loss on general text, lower is better): RandLoRA "
                                 "{r} nats, LoRA {l} nats.",
        "tp_forgetting": "Forgetting, the rise of the loss on general text after training (lower is better): {values}.",
        "tp_time": "One training run took {t_r} with RandLoRA, {t_l} with LoRA and {t_f} with full fine-tuning.",
        "tp_memory": "Peak memory ({label}): RandLoRA {m_r}, LoRA {m_l}, full fine-tuning {m_f}.",
        "tp_size": "What must be stored per task is small: RandLoRA {a_r}, LoRA {a_l}, against {a_f} for a "
                   "fully fine-tuned model.",
        "h_risk": "Risks and limits",
        "risk_failed": "{n} run(s) did not finish: {which}.",
        "risk_one_seed": "Only one seed per method: intervals come from resampling test examples and leave out "
                         "seed-to-seed variation.",
        "risk_no_gpu": "No GPU was present: memory figures are host memory (RSS) and energy was not measured.",
        "risk_warning": "{method}: {warning}",
        "risk_none": "No failed runs or warnings.",
        "h_method": "Methodology",
        "m_hardware": "Hardware", "m_versions": "Software", "m_data": "Data", "m_seeds": "Seeds",
        "m_budget": "Budget matching", "m_rules": "Decision rules", "m_missing": "Not measured",
        "budget_text": "Each PEFT method's setting was chosen so that its count of trainable adapter parameters, "
                       "exactly as peft counts them, is closest to the budget of {budget}; the classification head "
                       "({head} parameters) is trained by every method and counted apart.",
        "budget_text_no_head": "Each PEFT method's setting was chosen so that its count of trainable adapter "
                               "parameters, exactly as peft counts them, is closest to the budget of {budget}. The "
                               "task adds no head: the classes are text prompts scored by the pretrained model.",
        "rules_text": "0. None while a searched setting did not hold up in its seeded runs. 1. Full fine-tuning "
                      "when significantly better than the best PEFT method and within the "
                      "memory limit. 2. RandLoRA when significantly better than LoRA. 3. LoRA when significantly "
                      "better than RandLoRA. 4. Otherwise inconclusive. Significant: the 95% interval of the "
                      "paired difference excludes zero (t-interval over seeds; with one seed, a paired bootstrap "
                      "over test examples).",
        "seeds_text": "{seeds}: the same seeds for every method (head initialisation, data order, dropout, "
                      "RandLoRA's random bases).",
        "missing_gpu": "GPU memory and energy: {reason}.",
        "nothing_missing": "Everything listed above was measured.",
    },
    "ja": {
        "title": "ファインチューニング手法 PoC 報告書：{recipe}",
        "subtitle": "学習パラメータ数をそろえた LoRA・RandLoRA・フルファインチューニングの比較",
        "generated": "{date} 作成（保存済みの実行結果 {n} 件に基づく）",
        "h_conclusion": "結論",
        "rule_full": "推奨：フルファインチューニング。{best} より{metric}が {gain} ポイント高く"
                     "（95% 信頼区間 {lo}〜{hi}）、ピークメモリ（{mem}）も利用可能な範囲に収まります。",
        "rule_randlora": "推奨：RandLoRA。学習パラメータ数をそろえた条件で、LoRA より{metric}が {gain} ポイント"
                         "高い結果でした（95% 信頼区間 {lo}〜{hi}）。1 回の学習時間は LoRA の {ratio} 倍です。",
        "rule_lora": "推奨：LoRA。学習パラメータ数をそろえた条件で、RandLoRA の{metric}は LoRA より {loss} ポイント"
                     "低い結果でした（95% 信頼区間 {lo}〜{hi}）。",
        "rule_inconclusive": "結論保留：学習パラメータ数をそろえた条件では、RandLoRA と LoRA の{metric}に有意な差は"
                             "認められませんでした（差 {diff} ポイント、95% 信頼区間 {lo}〜{hi}）。判断には、"
                             "シード数またはデータ量を増やした追加検証が必要です。それまでは、コストの低い LoRA "
                             "を選ぶのが妥当です。",
        "rule_unreliable": "現時点では推奨できません：探索で {methods} に選ばれた学習率が本番学習で再現しません"
                           "でした（「リスクと制約」参照）。このまま比較すると、手法の差ではなく調整の失敗を測る"
                           "ことになります。試行を本番学習と同じ長さにして再度探索し、実行し直してください。",
        "rule_insufficient": "推奨なし：LoRA と RandLoRA の両方について、正常に完了した実行結果がありません。",
        "rules_note": "推奨は「検証方法」に記載した判定ルールに従って、数値から機械的に導いています。",
        "h_table": "比較表",
        "table_note": "{metrics}は %、シード間の平均 ± 標準偏差（n はシード数）。差は {baseline} "
                      "との対応のある比較です。",
        "c_method": "手法", "c_config": "設定と決め方", "c_trainable": "学習パラメータ数（全体比）",
        "c_metric": "{metric} %", "c_diff": "{baseline} との差（95% 信頼区間）",
        "c_memory": "ピークメモリ", "c_time": "学習時間", "c_throughput": "処理件数／秒", "c_energy": "消費電力量",
        "c_cost": "学習 1 回のコスト", "c_adapter": "保存サイズ", "c_runs": "実行数",
        "reference": "基準", "not_significant": "有意差なし", "all_parameters": "全パラメータ",
        "not_measured": "未計測",
        "mem_gpu": "GPU、NVML 計測", "mem_host": "ホストメモリ、GPU なし", "seed": "シード",
        "st_ok": "正常", "st_failed": "失敗", "st_oom": "メモリ不足", "st_timeout": "時間切れ",
        "st_interrupted": "中断",
        "chosen_search": "探索：{n} 通りの試行で最良（検証データの{metric} {score}%、本番学習では {runs}%）",
        "chosen_recipe": "レシピで固定", "chosen_default": "poc の既定値",
        "metric_accuracy": "正解率", "metric_macro_f1": "マクロ F1", "metric_exact_match": "完全一致率",
        "metric_contains": "部分一致率", "metric_choice_accuracy": "選択式の正解率",
        "metric_response_loss": "応答の損失", "metric_perplexity": "パープレキシティ",
        "metric_forgetting": "忘却（一般文での損失の増加）",
        "chosen_reference": "事前学習済みモデル（学習なし）", "nothing_trained": "学習なし",
        "st_diverged": "発散",
        "ch_sensitivity": "学習率と検証データの{metric}（探索の試行）",
        "ax_lr": "学習率（対数目盛）", "ax_validation": "検証データの{metric}（%）",
        "risk_narrow": "{method}：良好な学習率の範囲が狭い状態です。最良の学習率 {lr} では {best}% でしたが、"
                       "探索範囲で隣り合う学習率（{neighbours}）はいずれも {within} ポイント以内に届きませんでした。"
                       "本番環境で再調整できない場合、データや学習条件のわずかな変化で精度が大きく下がるおそれが"
                       "あります。",
        "risk_not_held": "{method}：選ばれた設定は本番学習で再現しませんでした。本番学習の検証データでの結果は "
                         "{runs}% で、探索で最良だった試行の {trial}% を {drop} ポイント下回っています。{why}"
                         "再度探索するまで、この手法の数値は判断材料にしないでください。",
        "why_shorter": "試行の学習は {trial_len}、本番学習は {run_len}でした。学習が短いほど大きな学習率が有利に"
                       "見えるため、試行も本番学習と同じ長さで探索してください（search.epochs と search.steps を"
                       "指定しない）。",
        "risk_edge": "{method}：最良の学習率（{lr}）が探索範囲の端にあるため、最適値は範囲外にある可能性が"
                     "あります。探索範囲（methods[].search.lr）を広げてください。",
        "risk_diverged": "{method}：探索の試行 {total} 件のうち {n} 件で損失が発散しました。これらは途中で停止し、"
                         "選択の対象外としました。",
        "risk_not_tuned": "次の手法は学習率を検証データで調整していません：{methods}。PoC 規模では学習率によって"
                          "順位が入れ替わることがあります。レシピに search: true を追加してください。",
        "m_search": "学習率の決め方",
        "search_text": "探索した手法の設定は、検証データ（{n_val} 件。テストデータは一切読み込んでいません）の"
                       "{metric}で選びました。探索範囲：{grids}。各試行はシード {seed} で {length} 学習し、"
                       "同点の場合は小さい学習率を優先しました。損失が発散した試行は途中で停止し、選択の対象外と"
                       "しました。その後、選ばれた設定で各シードの本番学習を行いました。",
        "length_epochs": "{n} エポック", "length_steps": "{n} ステップ",
        "h_search": "学習率の探索（検証データ）", "c_lr": "学習率", "c_status": "状態",
        "c_score": "検証データの{metric} %", "chosen_mark": "採用",
        "fixed_text": "探索なし：{methods}。", "fixed_item": "{method} {lr}（{how}）",
        "h_charts": "グラフ",
        "ch_params": "{Metric}と学習パラメータ数", "ch_memory": "{Metric}とピークメモリ",
        "ch_cost": "{Metric}と学習 1 回のコスト", "ch_loss": "学習損失の推移（シード {seed}）",
        "ax_params": "学習パラメータ数（対数目盛）", "ax_metric": "{metric}（%）",
        "ax_memory": "ピークメモリ（MiB）", "ax_cost": "学習 1 回のコスト（{currency}）", "ax_step": "ステップ",
        "ax_loss": "損失",
        "pareto": "費用対効果の良い手法（パレート最適）：メモリ基準では {memory}、コスト基準では {cost}。",
        "h_cost": "コスト",
        "c_energy_cost": "電力コスト", "c_projection": "本番規模の学習（試算）",
        "c_per_point": "{baseline} 比、{metric} 1 ポイントあたりの追加コスト",
        "projection_note": "試算条件：{examples} 件 × {epochs} エポックを、計測したスループットで学習した場合。",
        "price_user": "単価：1 時間あたり {price} {currency}（レシピまたはコマンドで指定）。",
        "price_assumed": "単価：1 時間あたり {price} {currency}。{what}の一般的なクラウド料金を仮定した値です。",
        "what_cpu": "小規模な CPU 仮想マシン",
        "h_business": "業務への効果",
        "business_note": "検出対象：{positive}。月間 {items} 件、1 件あたり手作業 {minutes} 分。見逃し 1 件の損失は "
                         "{missed} {currency}、誤検知 1 件の損失は {alarm} {currency} として試算しています。",
        "c_detection": "検出率", "c_false_alarm": "誤検知率", "c_precision": "適合率",
        "c_missed": "月間見逃し件数", "c_alarms": "月間誤検知件数", "c_error_cost": "月間エラー損失",
        "c_hours": "月間削減時間", "c_value": "月間効果額", "c_payback": "投資回収期間（月）",
        "never": "回収見込みなし",
        "h_talking": "意思決定会議での説明ポイント",
        "tp_budget": "学習パラメータ数を {budget}（モデル全体の {pct}）にそろえた条件で、{metric}は RandLoRA が "
                     "{acc_r}%、LoRA が {acc_l}% でした（{n} シードの平均）。",
        "tp_full": "全 {params} パラメータを学習するフルファインチューニングの{metric}は {acc_f}% でした。",
        "conclusion_forgetting": "忘却（一般的な文章での損失の増加、小さいほど良い）は RandLoRA が {r} nats、"
                                 "LoRA が {l} nats でした。",
        "tp_forgetting": "学習後に一般的な文章での損失がどれだけ増えたか（忘却、小さいほど良い）：{values}。",
        "tp_time": "1 回の学習時間は、RandLoRA が {t_r}、LoRA が {t_l}、フルファインチューニングが {t_f} でした。",
        "tp_memory": "ピークメモリ（{label}）は、RandLoRA が {m_r}、LoRA が {m_l}、フルファインチューニングが "
                     "{m_f} でした。",
        "tp_size": "タスクごとに保存が必要なデータは小さく、RandLoRA が {a_r}、LoRA が {a_l} です"
                   "（フルファインチューニングでは {a_f}）。",
        "h_risk": "リスクと制約",
        "risk_failed": "{n} 件の実行が正常に完了しませんでした：{which}。",
        "risk_one_seed": "各手法 1 シードのみのため、信頼区間はテスト事例の再標本化によるもので、シード間の"
                         "ばらつきは含まれていません。",
        "risk_no_gpu": "GPU のない環境で実行したため、メモリはホストメモリ（RSS）の値であり、消費電力量は"
                       "計測していません。",
        "risk_warning": "{method}：{warning}",
        "risk_none": "失敗した実行や警告はありません。",
        "h_method": "検証方法",
        "m_hardware": "ハードウェア", "m_versions": "ソフトウェア", "m_data": "データ", "m_seeds": "シード",
        "m_budget": "パラメータ数のそろえ方", "m_rules": "判定ルール", "m_missing": "計測していない項目",
        "budget_text": "各 PEFT 手法の設定は、peft が数えるのと同じ方法で数えた学習パラメータ数が予算 {budget} に"
                       "最も近くなるように選んでいます。分類ヘッド（{head} パラメータ）はすべての手法で学習し、"
                       "別に数えています。",
        "budget_text_no_head": "各 PEFT 手法の設定は、peft が数えるのと同じ方法で数えた学習パラメータ数が予算 "
                               "{budget} に最も近くなるように選んでいます。このタスクでは分類ヘッドを追加せず、"
                               "各クラスをテキストのプロンプトとして事前学習済みモデルで照合します。",
        "rules_text": "0. 探索で選んだ設定が本番学習で再現しない場合は推奨なし。"
                      "1. フルファインチューニングが最良の PEFT 手法より有意に高く、メモリ上限にも収まる場合は"
                      "フルファインチューニング。2. RandLoRA が LoRA より有意に高い場合は RandLoRA。"
                      "3. LoRA が RandLoRA より有意に高い場合は LoRA。4. いずれでもなければ結論保留。"
                      "「有意」とは、対応のある差の 95% 信頼区間が 0 を含まないことを指します（複数シードでは"
                      "シード間の t 区間、1 シードではテスト事例のブートストラップ）。",
        "seeds_text": "{seeds}（全手法で共通。分類ヘッドの初期値、データの順序、ドロップアウト、RandLoRA の"
                      "ランダム基底を決めます）。",
        "missing_gpu": "GPU メモリと消費電力量：{reason}。",
        "nothing_missing": "上記の項目はすべて計測しています。",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    """The string `key` in `lang`, with its placeholders filled."""
    return TEXT[lang][key].format(**values)


# Reasons a measurement is missing, as the trackers record them (English), for the Japanese report.
REASONS_JA = {
    "no NVIDIA GPU (NVML library or driver not found)":
        "NVIDIA GPU がありません（NVML ライブラリまたはドライバが見つかりません）",
    "nvidia-ml-py not installed": "nvidia-ml-py がインストールされていません",
    "the job did not run on a GPU (CPU device)": "ジョブは GPU ではなく CPU で実行されました",
    "NVML sees no GPU": "NVML から GPU が見えません",
}


def reason_text(lang: str, reason: str) -> str:
    """A tracker's reason in the report's language (unknown reasons, e.g. NVML errors, as recorded)."""
    return REASONS_JA.get(reason, reason) if lang == "ja" else reason
