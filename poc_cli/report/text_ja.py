"""The report's text in Japanese, key for key as text_en.py (see i18n.py for how it is written)."""

from __future__ import annotations

JA: dict[str, str] = {
    "title": "ファインチューニング手法 PoC 報告書：{recipe}",
    "subtitle": "学習パラメータ数をそろえた LoRA・RandLoRA・フルファインチューニングの比較",
    "generated": "{date} 作成（保存済みの実行結果 {n} 件に基づく）",
    "name_lora": "LoRA", "name_randlora": "RandLoRA", "name_dora": "DoRA", "name_rslora": "rsLoRA", "name_pissa": "PiSSA",
    "name_olora": "OLoRA", "name_vera": "VeRA", "name_full": "フルファインチューニング",
    "name_zero-shot": "ゼロショット（学習なし）", "name_untuned": "学習前のモデル", "name_majority-class": "多数クラス",
    "name_seasonal-naive": "季節ナイーブ", "name_auto_ets": "AutoETS（指数平滑法）", "name_auto_arima": "AutoARIMA",
    "name_auto_theta": "AutoTheta",
    "h_summary": "要旨",
    "dec_did_not_learn": "推奨なし：{methods}が学習できていません。",
    "dec_unreliable": "現時点では推奨できません：探索で選んだ学習率が、シードごとの学習で再現しませんでした。",
    "dec_full": "フルファインチューニングの採用を推奨します。",
    "dec_randlora": "LoRA ではなく RandLoRA の採用を推奨します。",
    "dec_lora": "LoRA の継続を推奨します。同じパラメータ数では RandLoRA のスコアが下回りました。",
    "dec_inconclusive": "RandLoRA と LoRA の差は確認できませんでした。当面はコストの低い LoRA を推奨します。",
    "dec_better": "{method}の採用を推奨します。同じパラメータ数で{baseline}より有意に良い結果でした。",
    "dec_none_better": "{baseline}より有意に良い手法はありませんでした。当面は{baseline}を推奨します。",
    "dec_insufficient": "推奨なし：LoRA または RandLoRA の正常に完了した実行結果がありません。",
    "dec_planners": "ファインチューニングは見送り：計画担当者がすでに使っている予測手法 {method} より明確に良い手法はありません。"
                    "{method} を使い続けてください。",
    "confidence": "判断の確度：{level}（{why}）。",
    "conf_high": "高", "conf_medium": "中", "conf_low": "低",
    "conf_why": "各手法 {seeds} シード、テストデータ {n} 件",
    "trade": "比較：{scores}。{resources}",
    "trade_scores": "{metric}は {values}",
    "trade_memory": "{label}のピークメモリは {values}", "trade_time": "1 回の学習時間は {values}",
    "trade_cost": "1 回のコストは {values}", "trade_loaded": "（他の処理と同時に計測したため、時間とコストは参考値です）",
    "next_search": "次の一手として、学習率の探索（{trials} 通りの試行）と、選ばれた学習率でのシードごとの学習を"
                   "おすすめします。このマシンで約 {time}かかる見込みです。",
    "next_research": "次の一手として、試行をシードごとの学習と同じ長さにした再探索（{trials} 通り）と、学習の"
                     "やり直しをおすすめします。このマシンで約 {time}かかる見込みです。",
    "next_seeds": "次の一手として、各手法のシードを {more} 個追加する（合計 {total} 個）ことをおすすめします。"
                  "2 ポイントの差を検出力 80% で検出できる数です。このマシンで約 {time}かかる見込みです。",
    "next_examples": "次の一手として、判断の前にテストデータを増やすことをおすすめします。テストデータ {n} 件の"
                     "この PoC で検出できるのは RandLoRA と LoRA の約 {detectable} ポイント以上の差だけで、"
                     "2 ポイントの差を検出するにはテストデータが約 {needed} 件必要です。",
    "next_power_limit": "次の一手について：この実行で検出できるのは約 {detectable} ポイント以上の差だけで、"
                        "2 ポイントの差を検出するには PoC の規模を超えるシード数またはテストデータが必要です。"
                        "それより小さな差が問題にならないなら、両者を同等とみなし、費用の低い LoRA を選んで"
                        "ください。",
    "next_production": "次の一手は、{method}による本番規模の学習（{examples} 件 × {epochs} エポック）です。"
                       "計測したスループットでは約 {time}、{cost}の見込みです。",
    "next_target": "次の一手として、レシピに cost.target_train_examples と cost.target_epochs を設定し、{method}"
                   "による本番規模の学習コストを試算してください（PoC での 1 回の学習は {time}）。",
    "next_missing": "次の一手として、LoRA と RandLoRA の両方が完了するよう poc run を再実行してください。",
    "next_diverged": "次の一手として、学習が発散した{methods}の学習率を下げるか（そのまま再実行しても再び発散"
                     "します）、探索（search: true）で選んでください。",
    "h_conclusion": "結論",
    "unit_points": "ポイント",
    "rule_full": "推奨：フルファインチューニング。{best}より{metric}が {gain} 良く"
                 "（{level}% 信頼区間 {lo}〜{hi}）、ピークメモリ（{mem}）も利用可能な範囲に収まります。",
    "rule_randlora": "推奨：RandLoRA。学習パラメータ数をそろえた条件で、LoRA より{metric}が {gain} "
                     "良い結果でした（{level}% 信頼区間 {lo}〜{hi}）。1 回の学習時間は LoRA の {ratio} 倍です。",
    "rule_lora": "推奨：LoRA。学習パラメータ数をそろえた条件で、RandLoRA の{metric}は LoRA より {loss} "
                 "悪い結果でした（{level}% 信頼区間 {lo}〜{hi}）。",
    "rule_inconclusive": "結論保留：学習パラメータ数をそろえた条件では、RandLoRA と LoRA の{metric}に有意な差は"
                         "認められませんでした（差 {diff}、{level}% 信頼区間 {lo}〜{hi}）。要旨に記載した"
                         "次の一手で判断できるまでは、コストの低い LoRA を選ぶのが妥当です。",
    "rule_unreliable": "現時点では推奨できません：探索で {methods} に選ばれた学習率が、シードごとの学習で再現"
                       "しませんでした（「リスクと制約」参照）。このまま比較すると、手法の差ではなく調整の失敗を"
                       "測ることになります。試行をシードごとの学習と同じ長さにして再度探索し、実行し直して"
                       "ください。",
    "rule_insufficient": "推奨なし：LoRA と RandLoRA の両方について、正常に完了した実行結果がありません。",
    "classical_config": "{model} をテスト期間より前の各系列の全履歴で当てはめ（計画担当者が現在使っている予測手法）",
    "classical_short": "。2 季節分に満たない {n} 系列は季節性なしで当てはめ（statsforecast の既定の動作）",
    "classical_fell_back": "。モデルが当てはめられなかった {n} 系列は季節ナイーブ予測で代替",
    "c_planners": "最良の古典的予測との差 [95%]",
    "planners_better": "{best} より良い", "planners_not_better": "{best} より良くない",
    "fit_time": "当てはめ {time}（CPU）",
    "rule_planners": "計画担当者の予測を上回らず：{methods}は、現在の計画で使われている古典的な予測手法（指数平滑法、"
                     "ARIMA、Theta を各系列の全履歴で当てはめたもの）のうち最も良い {best}（{metric} {score}）より"
                     "有意に良くありません。ファインチューニングした手法は推奨しません。{best} を使い続けてください。",
    "planners_left_out": "{methods}は、現在の計画で使われている古典的な予測手法で最も良い {best}（{metric} {score}）より"
                         "有意に良くないため、判断から除外しました。",
    "next_planners": "{method} を使い続けてください。ファインチューニングが見合うのは、これらの系列で {method} より有意に"
                     "良くなってからです。本番の学習に費用をかける前に、履歴や系列を増やす、より大きなモデルを使う、"
                     "コンテキストを長くする、などを試してください。",
    "rule_better": "推奨：{method}。学習パラメータ数をそろえた条件で、{baseline}より{metric}が {gain} 良く"
                   "（{level}% 信頼区間 {lo}〜{hi}{holm}）、{baseline}より有意に良い手法の中で最も高いスコアです。",
    "holm_p": "、{m} 件の比較について Holm 法で調整した p 値 {p}",
    "rule_none_better": "結論保留：学習パラメータ数をそろえた条件では、{metric}で{baseline}より有意に良い手法は"
                        "ありませんでした。サマリーの次のステップで決着がつくまでは、{baseline}を推奨します。",
    "rule_none_other": "ほかの手法にも、{baseline}より有意に良いものはありませんでした。",
    "headline": "RandLoRA と LoRA の差：{diff}（{level}% 信頼区間 {lo}〜{hi}）、{sig}。",
    "sig_yes": "有意な差です", "sig_no": "有意な差ではありません",
    "rule_did_not_learn": "学習できていません：{reasons}。この結果からはどの手法も推奨できません。何も学習して"
                          "いないモデルとの比較は、手法の差ではなく失敗を測ることになるためです。学習率の探索"
                          "（search: true）またはエポック数の追加を試してください（「リスクと制約」参照）。",
    "dnl_other_learned": "{method}は学習できています（{score}、{reference}より {gain} ポイント高い）。",
    "dnl_left_out": "学習できていません：{reasons}。判定の対象から外しています。",
    "dnl_one_answer": "{method}はテストデータの {share}% に同じ答えを出しています",
    "dnl_no_gain": "{method}の{metric}（{score}）は{reference}（{ref}）より有意に良くなっていません",
    "conclusion_forgetting": "忘却（一般的な文章での損失の増加、小さいほど良い）は RandLoRA が {r} nats、"
                             "LoRA が {l} nats でした。",
    "rules_note": "推奨は「検証方法」に記載した判定ルールに従って、数値から機械的に導いています。",
    "h_quality": "品質",
    "h_ranking": "同じパラメータ数での順位", "c_rank": "順位", "c_params_short": "学習パラメータ数",
    "c_front": "パレートフロント", "front_memory": "メモリ", "front_time": "時間", "off_budget_mark": "（予算外）",
    "ranking_note": "平均スコアの順です。差：{baseline}との対応のある差と信頼区間。複数の手法を比較するため、p 値は "
                    "Holm 法で調整し、区間もそれに合わせて広げています。パレートフロント：より少ないピークメモリ"
                    "（または学習時間）で平均スコアが上回る手法がない手法です。負荷下で計測した時間（‡）は時間の"
                    "パレートフロントから除いています。",
    "off_budget_note": "（予算外）：パラメータ予算に届かないため、レシピの許可により届く範囲のパラメータ数で"
                       "学習した手法です。その差はパラメータ数の異なる比較です。",
    "c_method": "手法", "c_config": "設定と決め方",
    "c_score": "{metric} %［95% 信頼区間］", "c_other": "{metric}",
    "c_diff": "{baseline}との差（ポイント）［95% 信頼区間］", "c_diff_value": "{baseline}との差［95% 信頼区間］", "c_p": "p 値", "c_p_holm": "p 値（Holm 法、{m} 件の比較）", "c_words": "件数での差",
    "c_learned": "学習の成否",
    "learned_yes": "成功", "learned_one": "失敗：{share}% が同じ答え",
    "learned_no_gain": "失敗：{reference}を上回らず",
    "words": "{n} 件中、正解が {count} 件{direction}", "words_seeds": "1 シードあたり {n} 件中、正解が約 {count} 件{direction}",
    "more": "多い", "fewer": "少ない", "words_same": "正解数は同じ",
    "reference": "基準", "not_significant": "有意差なし",
    "could_detect": "検出可能な最小の差 {value}",
    "trivial_config_majority-class": "常にテストデータで最も多いクラスを答える（何も学習しない場合の値）",
    "trivial_config_seasonal-naive": "各時点を1季節前の値で予測する（何も学習しない場合の値）",
    "quality_note": "スコアはシード間の平均と 95% 信頼区間（{how}）です。差は同じシード・同じテストデータでの"
                    "{baseline}との対応のある比較で、単位はパーセントポイントです。差の信頼区間と p 値は同じ"
                    "ひとつの検定から求めており（手法の「統計的検定」を参照）、有意かどうかの判定は必ず一致"
                    "します。95% を超える水準の区間にはその水準を付記しています。「有意差なし」は信頼区間が 0 を"
                    "含むことを指し、このデータでは両者を区別できないことを意味します。その横に、この PoC で"
                    "検出できた最小の差（検出力 80%）を示します。",
    "how_seeds": "シード間の t 区間", "how_examples": "1 シードのためテストデータのブートストラップ",
    "h_resources": "計算資源",
    "c_params": "学習パラメータ数（全体比）", "c_memory": "ピークメモリ（MiB）",
    "c_time": "学習時間", "c_throughput": "処理件数／秒", "c_energy": "消費電力量",
    "c_cost": "学習 1 回のコスト", "c_adapter": "保存サイズ（MiB）", "c_runs": "実行数",
    "c_gpus": "1 ジョブの GPU 数", "c_procs": "1 ジョブのプロセス数",
    "gpus_note": "複数 GPU にまたがるジョブ（FSDP2）は、最もメモリを使った GPU のピーク（CPU ではプロセスのピークの合計）を示し、"
    "コストは GPU 数 × 時間です。",
    "params_cell": "アダプタ {adapter} ＋ ヘッド {head} ＝ {total}（{share}）",
    "params_all": "全 {total}（{share}）", "params_none": "なし",
    "mem_gpu": "GPU", "mem_host": "ホストメモリ", "not_measured": "未計測",
    "resources_note": "学習パラメータ数は、予算にそろえたアダプタと、全手法が学習するタスク用ヘッドの合計です"
                      "（全体比はモデルの全 {total} パラメータに対する割合）。メモリとサイズの単位は MiB"
                      "（1 MiB = 2^20 バイト）です。ホストメモリは各ジョブのプロセスの最大常駐メモリです"
                      "（GPU は使用していません）。",
    "time_note": "学習時間は定常状態の 1 ステップ時間で計算しています。各実行の最初の {steps} 回の最適化ステップ"
                 "（カーネルやライブラリの初期化、オプティマイザ状態の確保。平均 {warmup}）は手法によらない一度きりの"
                 "費用なので分けて計測しました。コストはウォームアップを含む実際の経過時間（支払った時間）で計算しています。",
    "loaded_note": "‡ 他のプロセスが最大 {cores} コアの CPU を使用している間に計測した値で、正確な計測では"
                   "ありません。比較の前に、他の処理のないマシンで再計測してください。",
    "all_parameters": "全パラメータ", "nothing_trained": "学習なし",
    "seed": "シード",
    "st_ok": "正常", "st_failed": "失敗", "st_oom": "メモリ不足", "st_timeout": "時間切れ",
    "st_interrupted": "中断", "st_diverged": "発散",
    "st_pruned": "ステップ {steps}/{total} で打ち切り（halving）", "rung_score": "{score}（ステップ {steps} 時点）",
    "chosen_search": "探索：{n} 通りの試行{beyond}で最良（検証データの{metric} {score}%{runs}）",
    "chosen_runs": "、シードごとの学習では {runs}%",
    "chosen_beyond": "（うち {n} 件は探索範囲の端の外に追加）",
    "chosen_recipe": "レシピで指定", "chosen_default": "poc の既定値",
    "chosen_reference": "事前学習済みモデル（学習なし）", "chosen_trivial": "計算値（実行なし）",
    "metric_accuracy": "正解率", "metric_macro_f1": "マクロ F1", "metric_exact_match": "完全一致率",
    "metric_contains": "部分一致率", "metric_choice_accuracy": "選択式の正解率",
    "metric_response_loss": "応答の損失", "metric_perplexity": "パープレキシティ",
    "metric_forgetting": "忘却（一般文での損失の増加）",
    "metric_mase": "MASE（平均絶対尺度誤差）", "metric_smape": "sMAPE", "metric_wql": "加重分位点損失",
    "h_memory": "メモリと GPU の選定",
    "memory_cpu": "今回は GPU を使用していません。上記のメモリはホストメモリ（各ジョブのプロセスの最大常駐"
                  "メモリ）で、GPU の選定には使えません。GPU ではモデルの重み、中間値、最適化の状態が GPU メモリ"
                  "に載るため、手法の順位も変わります。GPU での選定表が必要な場合は、GPU 上でレシピを実行して"
                  "ください（training.device: cuda）。",
    "c_gpu_peak": "GPU ピーク（CUDA コンテキスト込み、MiB）", "c_reserved": "torch 確保済みピーク（MiB）",
    "c_fits": "{size} GB に収まるか", "yes": "収まる", "no": "収まらない",
    "sizing_note": "{gpu} で計測しました。ジョブのピーク（NVML で計測した、CUDA コンテキストを含むプロセスの"
                   "メモリ）が GPU メモリの 95% 未満であれば「収まる」としています。",
    "h_cost": "コスト", "h_cost_poc": "コスト（PoC 規模）",
    "c_cost_run": "PoC での学習 1 回のコスト", "c_energy_cost": "電力コスト",
    "c_projection": "本番規模の学習（試算）",
    "c_per_point": "{baseline}比、{metric} 1 ポイントあたりの追加コスト", "per_point_ns": "－（有意な向上なし）",
    "per_point_dnl": "－（{baseline}は学習できていません）",
    "projection_target": "試算条件：{examples} 件 × {epochs} エポック（cost.target_train_examples、"
                         "cost.target_epochs）を、各手法で計測したスループットで学習した場合。",
    "projection_poc": "PoC 規模：PoC で学習した {examples} 件 × {epochs} エポックの値です。本番規模の試算には、"
                      "レシピに cost.target_train_examples と cost.target_epochs を設定してください。",
    "poc_cost": "今回の PoC：学習ジョブ {jobs} 件、学習時間の合計 {time}、この単価で {cost}。",
    "price_user": "単価：1 時間あたり {price}（レシピまたはコマンドで指定）。",
    "price_assumed": "単価：1 時間あたり {price}。{what}の一般的なクラウド料金を仮定した値です。",
    "what_cpu": "小規模な CPU 仮想マシン",
    "no_business": "レシピに business（positive_class、cost_missed、cost_false_alarm、monthly_items、"
                   "minutes_per_item、hourly_rate）を追加すると、検出率と誤検知率から月間の効果額と投資回収"
                   "期間を試算できます。",
    "h_business": "業務への効果",
    "business_note": "検出対象：{positive}。月間 {items} 件、1 件あたり手作業 {minutes} 分。見逃し 1 件の損失は "
                     "{missed}、誤検知 1 件の損失は {alarm} として試算しています。各率は全シードのテスト結果を"
                     "合算したもので、95% 信頼区間（Wilson 法）を付けています。月間効果額と投資回収期間の範囲は"
                     "その信頼区間から求めています。",
    "business_unreliable": "テストデータの検出対象はわずか {n} 件のため、検出率とそこから計算した以下の数値は"
                           "信頼できません。検出率の信頼区間を ±5 ポイント以内にするには、検出対象が約 {needed} 件"
                           "必要です。",
    "detects_nothing": "{method}はテストデータの検出対象 {n} 件を 1 件も検出していません。月間効果額（{value}）は"
                       "自動化による作業削減だけによるもので、検出によるものではありません。",
    "c_detection": "検出率［95%］", "c_false_alarm": "誤検知率［95%］", "c_precision": "適合率",
    "c_confusion": "検出／見逃し／誤検知／正しく通過",
    "c_work": "月間削減作業（時間／金額）", "c_missed_cost": "月間見逃し（件数／損失）",
    "c_alarm_cost": "月間誤検知（件数／損失）", "c_value": "月間効果額［範囲］",
    "c_payback": "投資回収期間［範囲］",
    "forecast_business_note": "過少予測 1 単位（販売機会の損失）の損失は {under}、過大予測 1 単位（在庫の保管・"
                              "廃棄）の損失は {over}、予測の対象は月間 {volume} 単位として試算しています。各手法の"
                              "テスト期間での不足・過剰の単位数を実需要 1 単位あたりに換算し、この数量に掛けています"
                              "（シードは系列ごとに平均）。",
    "forecast_against_seasonal-naive": "削減額：季節ナイーブ予測（1 季節前の値）の月間損失 {cost} との差。範囲は"
                                       "テスト系列のブートストラップによる 95% 区間です。",
    "forecast_against_current": "削減額：現在の予測（申告された MASE {mase}）の月間損失の推定値 {cost} との差。"
                                "このテストでの季節ナイーブ予測の MASE は {naive} で、その損失を MASE の比で換算して"
                                "います（現在の誤差の過少・過大の割合が季節ナイーブと同じと仮定）。範囲はテスト系列の"
                                "ブートストラップによる 95% 区間です。",
    "forecast_against_classical": "削減額：現在の計画で使われている古典的な予測手法のうち最も良い {best} の月間損失 {cost} "
                                  "との差（business.current_mase の指定がないため、会社がほかに使う予測として扱います）。"
                                  "範囲はテスト系列のブートストラップによる 95% 区間です。",
    "forecast_behind": "{method}は、計画担当者がすでに使っている {best} より有意に良くなっていません。削減額があっても "
                       "{best} でも同程度が見込めるため、ファインチューニングの効果とは読まないでください。",
    "forecast_classical_cost": "古典的な予測手法の当てはめにかかった時間は {times}（CPU 時間 {cpu}、GPU は不要）で、"
                               "小型の CPU マシンで約 {cost} です。ファインチューニングの費用（計算資源の節）と比べてください。",
    "c_saving_classical": "最良の古典的予測比の月間削減額［95%］",
    "forecast_payback_note": "投資回収期間 =（本番学習のコスト ＋ 今回の PoC の {poc}）÷ 月間削減額。",
    "forecast_dnl": "{method}は季節ナイーブ予測より有意に良くなっていません（学習できていません）。削減額が"
                    "あっても季節ナイーブ予測でも同程度が見込めるため、ファインチューニングの効果とは読まないで"
                    "ください。",
    "c_under_units": "月間の不足単位数", "c_over_units": "月間の過剰単位数",
    "c_error_cost": "月間の誤差による損失", "c_saving_seasonal-naive": "季節ナイーブ比の月間削減額［95%］",
    "c_saving_current": "現在の予測比の月間削減額［95%］",
    "payback_note": "投資回収期間 =（{method}の{which}の学習コスト {training_cost} ＋ 今回の PoC の {poc}）÷ 月間効果額。",
    "payback_target": "本番規模", "payback_poc": "PoC 規模",
    # load profile (poc profile)
    "h_load": "バッチサイズ別の負荷試算",
    "load_intro": "poc profile により {device}・{precision} で計測しました（{date}）。バッチサイズごとに"
                  "ウォームアップ {warmup} ステップの後 {steps} ステップを計測し、1 ステップ 1 バッチ（勾配累積なし）、"
                  "1 例あたり最大 {max_length} トークンです。ステップ時間は 1 回の計測の中央値で信頼区間はないため、"
                  "小さな差は根拠になりません。ピークメモリ：{scope}。",
    "load_cpu": "この計測は GPU を使用していません。メモリはホストメモリであり、GPU の選定には使えません。",
    "load_fit": "{limit}に収まる計測済みの最大バッチ：{items}。",
    "load_fit_none": "計測した中にはなし",
    "load_limit_set": "report.memory_limit_mib（{mib} MiB）", "load_limit_device": "デバイスの {mib} MiB",
    "load_bases": "{name}の疎基底：peft は疎基底も密なテンソルとして保持するため、学習される更新は変わりますが、"
                  "1 ステップの計算量とメモリは変わりません。バッチ {batch} での計測：ステップ時間は密な基底の {items}。",
    "load_differs": "負荷試算の{what}が実験と異なります（試算：{profile}、実験：{runs}）。数値は試算時の設定のものです。",
    "bases_dense": "密", "bases_sparse": "疎", "bases_very sparse": "超疎",
    "bases_variant": "{bases}（比較用）",
    "c_bases": "基底", "c_batch": "バッチ", "c_step": "ステップ時間", "c_examples_s": "例/秒",
    "c_tokens_s": "トークン/秒", "c_peak_mib": "ピークメモリ（MiB）",
    "st_skipped": "省略（より小さいバッチでメモリ不足）",
    "ch_throughput": "バッチサイズ別の学習スループット", "ch_load_memory": "バッチサイズ別のピークメモリ",
    "ax_batch": "バッチサイズ", "ax_examples_s": "例/秒", "ax_peak_mib": "ピークメモリ（MiB）",
    "limit_line": "上限 {mib} MiB",
    "what_model": "モデル", "what_precision": "精度", "what_device": "デバイス",
    "what_max_length": "max_length",
    "scope_gpu": "torch の予約メモリのピーク＋最初のカーネル実行後に torch 以外が GPU 上で保持していた {context} MiB（CUDA コンテキストとライブラリ）",
    "scope_host": "計測プロセスの常駐メモリ（RSS、ホストメモリ）",
    "h_charts": "グラフ",
    "ch_scores": "{Metric}（95% 信頼区間）", "ch_params": "{Metric}と学習パラメータ数",
    "ch_cost": "{Metric}と学習 1 回のコスト", "ch_cost_loaded": "{Metric}と学習 1 回のコスト（‡ 負荷下の計測）",
    "ch_gpu": "{Metric}と GPU ピークメモリ", "ch_loss": "学習損失の推移（シード {seed}）",
    "ch_front_memory": "{Metric}とピークメモリ：パレートフロント（数字は順位表の順位）",
    "ch_front_time": "{Metric}と学習時間：パレートフロント（数字は順位表の順位）",
    "front_label": "パレートフロント（平均値）",
    "front_note": "パレートフロント：より低いコストで平均スコアを上回る手法がない手法です。平均値から求めているため、"
                  "信頼区間が重なる手法どうしのスコアの順位は確定していません。", "ax_memory_host": "ホスト RAM ピーク（MiB、GPU なし）",
    "ax_time": "学習 1 回の時間（秒）",
    "ch_sensitivity": "学習率と検証データの{metric}（探索の試行）",
    "ax_params": "学習パラメータ数（対数目盛）", "ax_metric": "{metric}（%）", "ax_metric_unit": "{metric}（{unit}）",
    "ax_gpu": "GPU ピークメモリ（MiB）", "ax_cost": "学習 1 回のコスト（{currency}）", "ax_step": "ステップ",
    "ax_loss": "損失", "ax_lr": "学習率（対数目盛）", "ax_validation": "検証データの{metric}（%）",
    "chart_ns": "{baseline}と有意差なし", "chart_dnl": "学習失敗", "chart_ref": "{name} {value}",
    "charts_note": "縦棒は 95% 信頼区間です。スコアの軸は 0 または自明な予測（多数クラスなど）の値から始め、差を誇張しない"
                   "ようにしています。",
    "h_search": "学習率の探索（検証データ）", "c_lr": "学習率", "c_status": "状態",
    "c_val_score": "検証データの{metric} %", "chosen_mark": "採用", "added_mark": "探索範囲の外に追加",
    "h_risk": "リスクと制約",
    "risk_dnl": "{reason}。学習できていない状態です。学習率の探索（search: true）、エポック数の追加"
                "（training.epochs）、ラベルの確認、max_length で切り詰められた入力の割合の確認を試してください。",
    "risk_loaded": "{methods}の時間とコストは、他のプロセスが最大 {cores} コアの CPU を使用している間に計測"
                   "しました。他の処理のないマシンで再計測するまで、比較には使わないでください。",
    "risk_failed": "{n} 件の実行が正常に完了しませんでした：{which}。",
    "risk_one_seed": "各手法 1 シードのみのため、信頼区間はテストデータの再標本化によるもので、シード間の"
                     "ばらつきは含まれていません。",
    "risk_no_gpu": "GPU のない環境で実行したため、メモリは GPU メモリではなくホストメモリの値で、消費電力量は"
                   "計測していません。",
    "risk_warning": "{method}：{warning}",
    "risk_none": "失敗した実行や警告はありません。",
    "risk_narrow": "{method}：良好な学習率の範囲が狭い状態です。最良の学習率 {lr} では {best}% でしたが、"
                   "探索範囲で隣り合う学習率（{neighbours}）はいずれも {within} ポイント以内に届きませんでした。"
                   "本番環境で再調整できない場合、データや学習条件のわずかな変化でスコアが大きく下がるおそれが"
                   "あります。",
    "risk_not_held": "{method}：選ばれた設定はシードごとの学習で再現しませんでした。シードごとの学習の検証データ"
                     "での結果は {runs}% で、探索で最良だった試行の {trial}% を {drop} ポイント下回っています。"
                     "{why}再度探索するまで、この手法の数値は判断材料にしないでください。",
    "why_shorter": "試行の学習は {trial_len}、シードごとの学習は {run_len}でした。学習が短いほど大きな学習率が"
                   "有利に見えるため、試行もシードごとの学習と同じ長さで探索してください（search.epochs と "
                   "search.steps を指定しない）。",
    "risk_edge": "{method}：最良の学習率（{lr}）が探索範囲の端にあるため、最適値は範囲外にある可能性が"
                 "あります。探索範囲（methods[].search.lr）を広げてください。",
    "risk_edge_limit": "{method}：探索範囲の外に {n} 件の試行を追加しても（search.edge_steps）最良の学習率（{lr}）が"
                       "まだ端にあるため、最適値はさらに外にある可能性があります。search.edge_steps を増やすか、"
                       "探索範囲（methods[].search.lr）を広げてください。",
    "risk_diverged": "{method}：探索の試行 {total} 件のうち {n} 件で損失が発散しました。これらは途中で停止し、"
                     "選択の対象外としました。",
    "risk_not_tuned": "次の手法は学習率を検証データで調整していません：{methods}。PoC 規模では学習率によって"
                      "順位が入れ替わることがあります。レシピに search: true を追加してください。",
    "h_method": "検証方法",
    "m_hardware": "ハードウェア", "m_versions": "ソフトウェア", "m_model": "モデル", "m_data": "データファイル",
    "m_forecast": "予測の窓",
    "forecast_text": "テストの {series} 系列それぞれについて、直近 {context} 点（季節周期 {season}）から先の "
                     "{horizon} 点を予測しています。テストデータ 1 件は 1 系列の予測で、信頼区間と対応のある検定は"
                     "系列を単位に再標本化しています。検証データはテスト期間直前の {horizon} 点です。学習には検証"
                     "期間より前の部分から {windows} 個の窓（1 系列あたり最大 {per} 個、分割シードで抽出）を使い、"
                     "検証・テストの値を読む窓はありません。MASE は各系列の平均絶対誤差を、その系列の学習期間での"
                     "季節ナイーブ予測の誤差で割った値です。",
    "m_splits": "データの分割とクラス", "m_fitting": "max_length による切り詰め", "m_training": "学習条件",
    "m_seeds": "シード", "m_budget": "パラメータ数のそろえ方", "m_params": "パラメータ数の内訳",
    "m_search": "学習率の決め方", "m_rules": "判定ルール", "m_stats": "統計的検定", "m_learned": "「学習できていない」の判定",
    "m_jobs": "ジョブ ID", "m_missing": "計測していない項目",
    "hw_cpu": "CPU {cpus} コア、メモリ {ram} MiB", "commit": "poc のコミット {commit}",
    "model_hash": "{model}（sha256 {sha}、ファイル {files} 個、{bytes} バイト）",
    "model_commit": "{model}（Hub のコミット {commit}）",
    "data_file": "{path}（sha256 {sha}、{bytes} バイト）",
    "split_text": "{split} {n} 件（{classes}）",
    "split_train": "学習データ", "split_validation": "検証データ", "split_test": "テストデータ",
    "sched_linear": "線形減衰", "sched_cosine": "コサイン減衰", "sched_constant": "一定",
    "fitting_text": "{split}：{n} 件中 {cut} 件（{share}）を max_length {length} で切り詰め",
    "fitting_dropped": "、{dropped} 件を除外（プロンプトが max_length より長い）",
    "no_truncation": "なし（すべての入力が max_length {length} に収まっています）",
    "training_text": "{length}、バッチサイズ {batch}、max_length {max_length}、ウォームアップはステップの {warmup}、"
                     "学習率スケジュール {scheduler}、weight decay {decay}、勾配クリッピング {clip}、デバイス "
                     "{device}。学習率：{lrs}。",
    "compute_text": "計算形式 {precision}、勾配チェックポイント {checkpointing}、{accumulation}、ベースモデルの重み "
                    "{quantization}。",
    "dtypes_text": "各ジョブのモデルから読み取った、パラメータの読み込み時と学習時の型：{parts}。",
    "dtypes_policy": "混合精度では、固定したベースモデルを計算用の型で保持し（1 パラメータ 2 バイト、fp32 の複製なし。"
                     "PEFT の一般的なツールと同じ扱い）、学習するもの（アダプタとヘッド）だけを fp32 にしています。"
                     "フルファインチューニングは全パラメータの fp32 マスター重みを保持します。各手法には本番と同じ"
                     "メモリ量を計上しています。",
    "dtypes_part": "{name}は固定 {frozen}・学習 {trained}", "dtypes_none": "なし",
    "accumulation_one": "1 ステップにつき 1 バッチ",
    "accumulation_n": "{n} バッチの勾配を累積して 1 ステップ（実効バッチ {effective}）",
    "switch_on": "あり",
    "switch_off": "なし",
    "quant_none": "量子化なし",
    "quant_nf4": "4 ビット NF4（凍結）",
    "quant_int8": "8 ビット（凍結）",
    "params_text": "{method}：アダプタ {adapter}、ヘッド {head}、学習対象 {trainable}（全 {total} 中）",
    "params_text_all": "{method}：学習対象 {trainable}（全 {total} 中、全パラメータ）",
    "budget_text": "各 PEFT 手法の設定は、peft が数えるのと同じ方法で数えた学習パラメータ数が予算 {budget} に"
                   "最も近くなるように選んでいます。分類ヘッド（{head} パラメータ）はすべての手法で学習し、"
                   "別に数えています。",
    "budget_text_no_head": "各 PEFT 手法の設定は、peft が数えるのと同じ方法で数えた学習パラメータ数が予算 "
                           "{budget} に最も近くなるように選んでいます。このタスクではヘッドを追加していません。",
    "rules_text": "0. LoRA または RandLoRA が学習できていない場合、または探索で選んだ設定がシードごとの学習で"
                  "再現しない場合は推奨なし。1. フルファインチューニングが学習でき、最良の PEFT 手法より有意に"
                  "高く、メモリ上限にも収まる場合はフルファインチューニング。2. RandLoRA が LoRA より有意に高い"
                  "場合は RandLoRA。3. LoRA が RandLoRA より有意に高い場合は LoRA。4. いずれでもなければ結論"
                  "保留。「有意」とは、対応のある差の信頼区間が 0 を含まないことを指し、複数の比較がある場合は"
                  "その調整後に判定します（「統計的検定」を参照）。",
    "stats_t": "各手法は{baseline}と、{n} 個のシードにわたる対応のある t 検定で比較しています。表示している"
               "区間はこの検定の t 区間なので、有意かどうかの判定は必ず一致します。",
    "stats_mcnemar": "シードが 1 個のため、各手法は{baseline}と同じテストデータ {n} 件で、McNemar の正確検定に"
                     "より比較しています。この検定は、片方だけが正解した件数だけを数えます。{metric}の差の"
                     "区間は同じ検定から求めた正確な区間なので、有意かどうかの判定は必ず一致します。",
    "stats_bootstrap": "シードが 1 個のため、各手法は{baseline}と同じテストデータ {n} 件で、対応のある"
                       "ブートストラップ（10,000 回の再標本化）により比較しています。区間と p 値は同じ再標本から"
                       "求めているので、有意かどうかの判定は一致します。",
    "stats_holm": "{baseline}と比較する手法が {m} 個あるため、Holm 法で p 値を調整し、各区間は Holm 法の各段階"
                  "で用いた水準で求めています。差は調整後に初めて有意と判定します。",
    "stats_power": "有意差のない差の横には、このデータで同じ検定が検出力 80% で検出できる最小の差と、2 ポイントの"
                   "差の検出に必要なシード数またはテストデータ件数を示しています。",
    "learned_text": "学習した手法が、テストデータの 95% 以上に同じ答えを出した場合、または{metric}が{reference}を"
                    "有意に上回らない場合（他の比較と同じ対応のある統計で判定）に「学習できていない」と"
                    "判定します。",
    "seeds_text": "{seeds}（全手法で共通。分類ヘッドの初期値、データの順序、ドロップアウト、RandLoRA の"
                  "ランダム基底を決めます）。",
    "jobs_text": "{method} {seed} {seed_n}：{job}",
    "m_skipped": "読み込めなかった記録", "skipped_none": "なし（このレシピのフォルダの記録はすべて読み込めました）。",
    "skipped_text": "このレシピのフォルダにある {n} 件のファイルは記録として読み込めなかったため、すべての数値から"
                    "除いています：{files}。",
    "search_text": "探索した手法の設定は、検証データ（{n_val} 件。テストデータは一切読み込んでいません）の"
                   "{metric}で選びました。探索範囲：{grids}。各試行はシード {seed} で {length} 学習し、"
                   "同点の場合は小さい学習率を優先しました。損失が発散した試行は途中で停止し、選択の対象外と"
                   "しました。その後、選ばれた設定でシードごとの学習を行いました。",
    "length_epochs": "{n} エポック", "length_steps": "{n} ステップ", "grid_added": "（続いて範囲の外に {lrs} を追加）",
    "fixed_text": "探索なし：{methods}。", "fixed_item": "{method} {lr}（{how}）",
    "missing_gpu": "GPU メモリと消費電力量：{reason}。",
    "nothing_missing": "上記の項目はすべて計測しています。",
}
