"""Money as a reader of each language expects it: the recipe's currency, its own decimals, and
in Japanese 万円 / 億円 for large yen sums.

Only the formatting lives here; every amount comes from a stored measurement times a price.
"""

from __future__ import annotations

import math

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
