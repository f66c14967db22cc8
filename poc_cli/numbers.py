"""Every figure a person reads, formatted one way: money in its currency, times, memory, shares and
differences in points, p-values and payback periods, in English and Japanese.

The CLI's tables (compare, plan) and the report call these, so the same amount never reads
"29.9971 JPY" in one place and "30 JPY" in another. JSON and CSV keep the raw values.
"""

from __future__ import annotations

import math

NBSP = "\u00a0"
# Currencies whose smallest everyday unit is the whole unit (ISO 4217 minor unit 0).
NO_DECIMALS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD"})
NAMES_JA = {"JPY": "円", "USD": "米ドル", "EUR": "ユーロ", "GBP": "英ポンド", "CNY": "人民元", "KRW": "ウォン"}


def _digits(value: float, currency: str) -> int:
    """Decimals to show: none for yen-like currencies; two otherwise, more for sums under one cent
    (a CPU run of a tiny PoC costs a fraction of a cent, and "0.00" would hide it)."""
    if currency in NO_DECIMALS:
        return 0
    magnitude = abs(value)
    if 0 < magnitude < 0.01:
        return min(6, 1 - math.floor(math.log10(magnitude)))
    return 2


def money(value: float | None, currency: str, lang: str) -> str:
    """`1,234.56 USD` / `12,346 JPY` in English; `12,346円`, `12.3万円`, `1.2億円`, `1,234.56米ドル` in Japanese."""
    if value is None or not math.isfinite(value):
        return "-"
    if currency in NO_DECIMALS and 0 < abs(value) < 0.5:
        return f"1{NAMES_JA.get(currency, currency)}未満" if lang == "ja" \
            else f"< 1 {currency}"
    if lang == "ja":
        if currency == "JPY" and abs(value) >= 1e8:
            return f"{value / 1e8:,.1f}億円"
        if currency == "JPY" and abs(value) >= 1e5:
            return f"{value / 1e4:,.1f}万円" if abs(value) < 1e6 else f"{value / 1e4:,.0f}万円"
        return f"{value:,.{_digits(value, currency)}f}{NAMES_JA.get(currency, currency)}"
    return f"{value:,.{_digits(value, currency)}f} {currency}"


def currency_name(currency: str, lang: str) -> str:
    """The currency as the unit of an axis or a column heading."""
    return NAMES_JA.get(currency, currency) if lang == "ja" else currency


def points(value: float) -> str:
    """A difference of fractions in signed percentage points."""
    return f"{100 * value:+.1f}"


def score_text(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "-"
    units = {"en": ("s", "min", "h"), "ja": ("秒", "分", "時間")}[lang]
    if seconds < 120:
        value, unit = f"{seconds:.1f}", units[0]
    elif seconds < 7200:
        value, unit = f"{seconds / 60:.1f}", units[1]
    else:
        value, unit = f"{seconds / 3600:.1f}", units[2]
    return f"{value}{NBSP}{unit}" if lang == "en" else f"{value}{unit}"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def size(nbytes: float | None) -> str:
    """A memory size in GiB from 1 GiB up (two decimals), in MiB below (no decimals)."""
    if nbytes is None:
        return "-"
    return f"{nbytes / 2**30:,.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MiB"


def p_text(p: float) -> str:
    """A p-value: three decimals, or "<0.001"."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def level(confidence: float) -> str:
    """An interval's confidence level without its % sign: "95", "97.5", "98.3"."""
    return f"{100 * confidence:.3g}"


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage: `12.5%`."""
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def payback(months: float | None, lang: str) -> str:
    """A payback period as people say it: "under a day", "12 days", "3.2 months", "over 10 years";
    None (the value is not positive) is "never"."""
    if months is None:
        return "回収できない" if lang == "ja" else "never"
    days = months * 365.25 / 12
    if days < 1:
        return "1日未満" if lang == "ja" else "under a day"
    if months < 1:
        return f"{days:.0f}日" if lang == "ja" else f"{days:.0f} days"
    if months > 120:
        return "10年超" if lang == "ja" else "over 10 years"
    return f"{months:.1f}か月" if lang == "ja" else f"{months:.1f} months"


def ranged(value: str, low: str, high: str) -> str:
    """A figure with its range, as the business tables print it: `value [low – high]`, one end where both agree."""
    return f"{value} [{low if low == high else f'{low}{NBSP}–{NBSP}{high}'}]"
