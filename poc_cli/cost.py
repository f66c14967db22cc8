"""Money: hourly prices and the cost of a training run.

Without a price from the user, typical on-demand cloud prices per GPU model are used and
labelled as an assumption wherever they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

# Typical on-demand cloud prices, USD per GPU-hour (an assumption, late 2026; the user's own
# price always wins). "cpu": a small general-purpose VM.
TYPICAL_HOURLY_USD = {
    "H200": 3.80, "H100": 2.90, "A100": 1.80, "L40S": 1.20, "A10": 0.90, "L4": 0.80, "V100": 1.00,
    "T4": 0.40, "cpu": 0.10,
}


@dataclass(frozen=True)
class Price:
    """An hourly price, its currency and where it came from."""

    per_hour: float
    currency: str
    source: str


def typical_price(gpu_name: str | None) -> Price:
    """The table's price for a GPU name (matched by model, e.g. 'NVIDIA H100 80GB HBM3'), else a CPU VM."""
    if gpu_name:
        for model, price in TYPICAL_HOURLY_USD.items():
            if model != "cpu" and model.lower() in gpu_name.lower():
                return Price(price, "USD", f"assumption: typical cloud price of an {model}")
        return Price(TYPICAL_HOURLY_USD["A100"], "USD", f"assumption: {gpu_name} not in the table, priced as an A100")
    return Price(TYPICAL_HOURLY_USD["cpu"], "USD", "assumption: typical price of a small CPU VM")


def run_cost(train_seconds: float, price: Price) -> float:
    """Cost of one training run at `price`."""
    return train_seconds / 3600 * price.per_hour
