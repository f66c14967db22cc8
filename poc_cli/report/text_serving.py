"""The report's text for serving, in English and Japanese: merging, latency, the adapter served as
LoRA, and the monthly cost of serving the recipe's tasks merged or as adapters (report/serving.py).

Kept apart from text_en and text_ja like text_inspection; `i18n` merges all of them.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "h_serving": "Serving: what running the result costs",
    "trade_serving": "{tasks} task(s) served for {months} months, training included: {values}",
    "sv_c_merge": "Merged into the base", "sv_c_latency": "Latency, batch 1 (ms): merged / unmerged",
    "sv_c_throughput": "Throughput (per s): merged / unmerged", "sv_c_memory": "In memory: model / each adapter",
    "sv_c_disk": "Adapter on disk", "sv_c_lora": "Served as LoRA",
    "sv_c_merged_cost": "{n} task(s) merged: a month", "sv_c_adapter_cost": "{n} task(s) as adapters: a month",
    "sv_c_total": "Total over {months} months",
    "sv_exact": "exact", "sv_inexact": "not exact (outputs move by {diff})", "sv_changed": ", {n} of {of} answers changed",
    "sv_cannot_merge": "cannot merge", "sv_nothing_to_merge": "the model itself",
    "sv_with_bases": "{saved} ({bases} with its random bases, as peft's default saves)",
    "sv_converted": "r={r}: {metric} {diff}, {size}", "sv_is_lora": "is LoRA", "sv_no_lora": "no",
    "sv_not_measured": "not measured (a LoRA of a moved base)",
    "sv_way": "{cost} ({n} instance(s), {bound})", "sv_bound_memory": "by memory", "sv_bound_requests": "by requests",
    "sv_does_not_fit": "does not fit", "sv_merged": "merged", "sv_adapters": "as adapters on one base",
    "sv_decision": "Serving {tasks} task(s) for {months} months, training included: {low} costs least ({low_total}, "
                   "served {way}); {high} costs most ({high_total}).",
    "sv_same": "Serving {tasks} task(s) costs every method the same, {cost} a month on {n} instance(s): serving does "
               "not separate them here; the totals below differ by their trainings only.",
    "sv_no_spec": "Merged, an adapter serves as fast as a fully fine-tuned model (exact for: {methods}); the recipe "
                  "has no business.serving block, so the monthly cost of serving its tasks is not priced.",
    "sv_note_cpu": "Measured on this machine's CPU: latency and throughput are the CPU's. GPU serving figures need a "
                   "run on the GPU that will serve.",
    "sv_note_gpu": "Measured on {device}, each after an untimed first request or batch, with the task's own prediction "
                   "(a generation included).",
    "sv_note_merge": "Merged: the update added into the base weights, as one model per task. Exact: the merged model's "
                     "outputs on a test batch lie within {tol} (relative to the largest) of the unmerged ones. "
                     "Memory: the tensors held (weights only: activations and a language model's cache come on top).",
    "sv_note_noise": "Merged, every method serves the same network, so the spread of their merged latencies "
                     "({low} to {high} ms) is this machine's run-to-run noise: a smaller difference elsewhere in the "
                     "table is not a finding.",
    "sv_note_lora": "Served as LoRA: multi-adapter servers such as vLLM load LoRA adapters only; peft's convert_to_lora "
                    "turned each other adapter into a LoRA at LoRA's rank for this PoC's budget, scored again on the "
                    "test split (the difference is against the adapter itself).",
    "sv_note_cost": "Serving {tasks} task(s), {requests} requests each a month, on one-GPU instances of {gib} GiB "
                    "billed {hours} hours a month at the GPU price above, planned at {share}% of the measured "
                    "throughput. Merged: one full model per task. As adapters: one base per instance with the "
                    "adapters beside it, at the unmerged throughput. The total adds one training per task.",
}

JA: dict[str, str] = {
    "h_serving": "運用（推論）のコスト",
    "trade_serving": "{tasks}タスクを{months}か月運用する総コスト（学習費を含む）は {values}",
    "sv_c_merge": "ベースへの統合", "sv_c_latency": "レイテンシ・バッチ1（ミリ秒）：統合／非統合",
    "sv_c_throughput": "スループット（件/秒）：統合／非統合", "sv_c_memory": "メモリ：モデル／アダプタ1件",
    "sv_c_disk": "アダプタのファイルサイズ", "sv_c_lora": "LoRA としての配信",
    "sv_c_merged_cost": "{n}タスク・統合：月額", "sv_c_adapter_cost": "{n}タスク・アダプタ：月額",
    "sv_c_total": "{months}か月の総コスト",
    "sv_exact": "一致", "sv_inexact": "不一致（出力の差 {diff}）", "sv_changed": "、{of}件中{n}件の回答が変化",
    "sv_cannot_merge": "統合できません", "sv_nothing_to_merge": "モデルそのもの",
    "sv_with_bases": "{saved}（ランダム基底を含めると {bases}、peft の既定の保存）",
    "sv_converted": "r={r}：{metric} {diff}、{size}", "sv_is_lora": "LoRA そのもの", "sv_no_lora": "不可",
    "sv_not_measured": "未測定（ベースを動かす LoRA）",
    "sv_way": "{cost}（インスタンス{n}台、{bound}）", "sv_bound_memory": "メモリで決定", "sv_bound_requests": "リクエスト数で決定",
    "sv_does_not_fit": "GPU に収まりません", "sv_merged": "統合したモデル", "sv_adapters": "1つのベースとアダプタ",
    "sv_decision": "{tasks}タスクを{months}か月運用した場合（学習費を含む）、最も安いのは{low}（{low_total}、{way}で配信）、"
                   "最も高いのは{high}（{high_total}）です。",
    "sv_same": "{tasks}タスクの運用費はどの手法も同じ（月{cost}、インスタンス{n}台）で、運用では差がつきません。"
               "下表の総コストの差は学習費の差のみです。",
    "sv_no_spec": "統合すれば、アダプタは全体ファインチューニングのモデルと同じ速さで推論できます（統合が一致した手法：{methods}）。"
                  "レシピに business.serving がないため、タスクを運用する月額は算出していません。",
    "sv_note_cpu": "この計算機の CPU で測定しました。レイテンシとスループットは CPU の値です。GPU での推論の数値は、"
                   "実際に推論に使う GPU での実行が必要です。",
    "sv_note_gpu": "{device} で測定しました（最初の1件と1バッチは計測から除外し、生成を含むタスク本来の予測で計測）。",
    "sv_note_merge": "統合：更新分をベースの重みに加え、タスクごとに1つのモデルとして配信します。一致：テストの1バッチで、"
                     "統合後の出力と非統合の出力の差が最大出力の {tol} 以内であること。メモリは保持するテンソルのみ"
                     "（活性化や言語モデルのキャッシュは別途必要）。",
    "sv_note_noise": "統合後はどの手法も同じネットワークなので、統合時レイテンシのばらつき（{low}〜{high} ミリ秒）は"
                     "この計算機の測定ごとの揺らぎです。表中のこれより小さい差は、手法の差とはいえません。",
    "sv_note_lora": "LoRA としての配信：vLLM などの複数アダプタ配信サーバーは LoRA しか読み込めません。peft の LoRA 変換機能"
                    "で他のアダプタを本 PoC の予算での LoRA のランクに変換し、テストデータで再評価しました（差は元のアダプタとの比較）。",
    "sv_note_cost": "{tasks}タスク、各タスク月{requests}件のリクエストを、{gib} GiB の GPU 1台のインスタンスで運用"
                    "（月{hours}時間課金、上記の GPU 単価、測定スループットの{share}%で計画）。統合：タスクごとに全体モデル1つ。"
                    "アダプタ：インスタンスごとにベース1つとアダプタ（非統合のスループット）。総コストはタスクごとの学習1回を含みます。",
}
