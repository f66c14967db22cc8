"""Report text in English and Japanese.

The Japanese is written for a Japanese manager (polite register, Japanese word order, units
and money conventions, one term per concept: 正解率 for accuracy, シードごとの学習 for the
seeded runs), not translated word by word. Placeholders are filled with numbers already
formatted by the report; user-written names are escaped by the template.
"""

from __future__ import annotations

from poc_cli.report import text_inspection, text_serving
from poc_cli.report.text_en import EN
from poc_cli.report.text_ja import JA

TEXT: dict[str, dict[str, str]] = {"en": {**EN, **text_inspection.EN, **text_serving.EN},
                                   "ja": {**JA, **text_inspection.JA, **text_serving.JA}}


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
