"""The report's text for image inspection, in English and Japanese: ranking defects (AUROC), the
operating point a line is set to, and BatchNorm's policy.

Kept apart from text_en and text_ja, which hold everything else, so that each stays one module
of readable size; `i18n` merges both into the report's text.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "h_inspection": "Ranking defects and the operating point",
    "c_auroc": "AUROC [95%]", "c_auroc_vs": "vs {baseline} [95%]", "c_auroc_p": "p (Holm)",
    "c_threshold": "Threshold (per seed)", "c_validation_rates": "Validation: detection / false alarms",
    "c_test_rates": "Test at that threshold: detection / false alarms [95%]",
    "op_reference": "reference", "op_axis_false_alarm": "False-alarm rate", "op_axis_detection": "Detection rate",
    "op_auroc_note": "AUROC: the chance that a {positive} item scores above one that is not, over every threshold "
                     "(0.5 is chance). Against the baseline: DeLong's paired test on the same test images with one "
                     "seed, a paired t-test over the seeds' AUROCs with more; p-values Holm-adjusted.",
    "op_argmax": "No operating point is set (business.required_detection_rate or business.max_false_alarm_rate): "
                 "the rates below are at the most probable class.",
    "op_chosen": "Each seeded run's threshold was chosen on the validation split alone, never on test, for {targets}; "
                 "the test rates and the business figures are at that threshold.",
    "op_detection_target": "a detection rate of at least {rate} (the highest threshold that reaches it)",
    "op_false_alarm_target": "false alarms on at most {rate} of the other items (the lowest threshold that stays "
                             "under it)",
    "op_and": " and ",
    "op_curve": "Detection against false alarms on test (seed {seed}); circles: the operating points",
    "batchnorm_text": " BatchNorm ({layers} layers): {frozen} hold it frozen, normalising with its pretrained running "
                      "statistics in training as in scoring (so a saved adapter on the pretrained model is the model "
                      "that was scored); {trained} trains it, its statistics updated by each batch.",
    "batchnorm_frozen_only": " BatchNorm ({layers} layers): {frozen} hold it frozen, normalising with its pretrained "
                             "running statistics in training as in scoring.",
}

JA: dict[str, str] = {
    "h_inspection": "不良の順位付けと運用しきい値",
    "c_auroc": "AUROC［95%］", "c_auroc_vs": "{baseline} との差［95%］", "c_auroc_p": "p 値（Holm 補正）",
    "c_threshold": "しきい値（シードごと）", "c_validation_rates": "検証データ：検出率／誤検知率",
    "c_test_rates": "テストデータ（同じしきい値）：検出率／誤検知率［95%］",
    "op_reference": "基準", "op_axis_false_alarm": "誤検知率", "op_axis_detection": "検出率",
    "op_auroc_note": "AUROC は、{positive} の品目がそうでない品目より高いスコアになる確率を、すべてのしきい値にわたって"
                     "表したものです（0.5 は偶然と同じ）。基準との比較は、シードが 1 つの場合は同じテスト画像での DeLong "
                     "の対応のある検定、複数の場合はシードごとの AUROC の対応のある t 検定で行い、p 値は Holm 法で補正しています。",
    "op_argmax": "運用しきい値が設定されていません（business.required_detection_rate または "
                 "business.max_false_alarm_rate）。以下の率は確率が最も高いクラスで判定した場合のものです。",
    "op_chosen": "各シードの学習のしきい値は、テストデータではなく検証データだけを使い、{targets}を満たすように選びました。"
                 "テストデータの率と事業効果は、そのしきい値での値です。",
    "op_detection_target": "検出率 {rate} 以上（それを満たす最も高いしきい値）",
    "op_false_alarm_target": "誤検知率 {rate} 以下（それを満たす最も低いしきい値）",
    "op_and": "と",
    "op_curve": "テストデータでの検出率と誤検知率（シード {seed}）。円は運用しきい値の点",
    "batchnorm_text": "BatchNorm（{layers} 層）は {frozen} では固定し、学習中も評価時も事前学習時の移動統計量で正規化しました"
                      "（保存したアダプタを事前学習済みモデルに適用すると、評価したモデルそのものになります）。"
                      "{trained} では学習し、統計量もバッチごとに更新しました。",
    "batchnorm_frozen_only": "BatchNorm（{layers} 層）は {frozen} では固定し、学習中も評価時も事前学習時の移動統計量で"
                             "正規化しました。",
}
