"""The report's text for image inspection, in English and Japanese: BatchNorm's policy.

Kept apart from text_en and text_ja, which hold everything else, so that each stays one module
of readable size; `i18n` merges both into the report's text.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "batchnorm_text": " BatchNorm ({layers} layers): {frozen} hold it frozen, normalising with its pretrained running "
                      "statistics in training as in scoring (so a saved adapter on the pretrained model is the model "
                      "that was scored); {trained} trains it, its statistics updated by each batch.",
    "batchnorm_frozen_only": " BatchNorm ({layers} layers): {frozen} hold it frozen, normalising with its pretrained "
                             "running statistics in training as in scoring.",
}

JA: dict[str, str] = {
    "batchnorm_text": "BatchNorm（{layers} 層）は {frozen} では固定し、学習中も評価時も事前学習時の移動統計量で正規化しました"
                      "（保存したアダプタを事前学習済みモデルに適用すると、評価したモデルそのものになります）。"
                      "{trained} では学習し、統計量もバッチごとに更新しました。",
    "batchnorm_frozen_only": "BatchNorm（{layers} 層）は {frozen} では固定し、学習中も評価時も事前学習時の移動統計量で"
                             "正規化しました。",
}
