"""Money: hourly prices and the cost of a training run.

Without a price from the user, typical on-demand cloud prices per GPU model are used and
labelled as an assumption wherever they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poc_cli.records.record import StoredRecord

# Typical on-demand cloud prices, USD per GPU-hour (an assumption, late 2026; the user's own
# price always wins). "cpu": a small general-purpose VM.
TYPICAL_HOURLY_USD = {
    "H200": 3.80, "H100": 2.90, "A100": 1.80, "L40S": 1.20, "A10": 0.90, "L4": 0.80, "V100": 1.00,
    "T4": 0.40, "cpu": 0.10,
}


@dataclass(frozen=True)
class Price:
    """An hourly price, its currency and where it came from.

    `assumed` names the table entry used ("H100", "cpu"; a GPU missing from the table is
    priced as "A100"); None when the user gave the price.
    """

    per_hour: float
    currency: str
    source: str
    assumed: str | None = None


def typical_price(gpu_name: str | None) -> Price:
    """The table's price for a GPU name (matched by model, e.g. 'NVIDIA H100 80GB HBM3'), else a CPU VM."""
    if gpu_name:
        for model, price in TYPICAL_HOURLY_USD.items():
            if model != "cpu" and model.lower() in gpu_name.lower():
                return Price(price, "USD", f"assumption: typical cloud price of an {model}", assumed=model)
        return Price(TYPICAL_HOURLY_USD["A100"], "USD", f"assumption: {gpu_name} not in the table, priced as an A100",
                     assumed="A100")
    return Price(TYPICAL_HOURLY_USD["cpu"], "USD", "assumption: typical price of a small CPU VM", assumed="cpu")


def run_cost(train_seconds: float, price: Price) -> float:
    """Cost of one training run at `price`."""
    return train_seconds / 3600 * price.per_hour


def energy_cost(energy_j: float | None, price_per_kwh: float) -> float | None:
    """Cost of the measured energy (None when energy was not measured)."""
    return None if energy_j is None else energy_j / 3.6e6 * price_per_kwh


def projected_cost(*, examples: int, epochs: float, examples_per_s: float, price: Price) -> tuple[float, float]:
    """(hours, cost) of the full-scale training, from the PoC's measured throughput."""
    hours = examples * epochs / examples_per_s / 3600
    return hours, hours * price.per_hour


def record_price(record: StoredRecord, override: Price | None) -> Price:
    """What an hour of a job cost: the command line's price, else the recipe's (cost.gpu_hourly_price),
    else the typical table's, for each GPU the job spanned (a job across N GPUs pays for N; processes
    across a CPU share its one machine)."""
    cost = record.job.recipe.cost
    if override is not None:
        price = override if override.currency else replace(override, currency=cost.currency)
    elif cost.gpu_hourly_price:
        price = Price(cost.gpu_hourly_price, cost.currency, "from the recipe (cost.gpu_hourly_price)")
    else:
        price = typical_price(record.gpu.device.name if record.gpu.device else None)
    gpus = record.distributed.world_size if record.distributed else 1
    if gpus > 1 and str((record.runtime.device if record.runtime else None) or "").startswith("cuda"):
        price = replace(price, per_hour=price.per_hour * gpus, source=f"{price.source}, x {gpus} GPUs per job")
    return price
