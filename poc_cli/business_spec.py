"""The recipe's `business` block: what a classifier's errors or a forecast's errors cost, and what
serving the result costs.

Three kinds, told apart by their keys: rates (detection and false alarms of a positive class, for
a classification task), forecast errors (units under and over, for forecasting), and serving alone
(`serving` and nothing else, for any task: an LLM's intents, say). Rates and forecast errors may
carry `serving` too.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import Discriminator, Field, Tag

from poc_cli.specs import Amount, Number, Strict


class ServingSpec(Strict):
    """What serving the result carries (`business.serving`): how many tasks (inspection lines, intents,
    customers) each get their own fine-tuned model or adapter, the requests each task serves a month,
    and the serving instance: its GPU memory, its hours billed a month (at the recipe's GPU price) and
    the share of its measured throughput that capacity is planned at. `horizon_months`: the total cost
    of ownership adds that many months of serving to the trainings."""

    tasks: Annotated[int, Field(strict=True, ge=1, le=10**6)]
    requests_per_month: Annotated[int, Field(strict=True, ge=0, le=10**15)]
    gpu_memory_gib: Annotated[Number, Field(gt=0, le=10**4)] = 80
    hours_per_month: Annotated[Number, Field(gt=0, le=744)] = 730
    utilisation: Annotated[Number, Field(gt=0, le=1)] = 0.5
    horizon_months: Annotated[int, Field(strict=True, ge=1, le=600)] = 12


class BusinessSpec(Strict):
    """Stage 3 of a PoC: what errors cost and what automation saves, per month."""

    kind: ClassVar[str] = "rates"  # the task's `business_block` it prices
    positive_class: str = Field(min_length=1)
    cost_missed: Amount
    cost_false_alarm: Amount
    monthly_items: Annotated[int, Field(strict=True, ge=1, le=10**12)]
    minutes_per_item: Annotated[Number, Field(gt=0, le=60 * 24 * 31)]
    hourly_rate: Amount
    # The line's operating point, chosen on the validation split (see operating_point.py); neither: the argmax.
    required_detection_rate: Annotated[Number, Field(gt=0, le=1)] | None = None
    max_false_alarm_rate: Annotated[Number, Field(ge=0, lt=1)] | None = None
    serving: ServingSpec | None = None

    @property
    def operating_point(self) -> bool:
        """Whether the rates are priced at a threshold chosen on validation, not at the argmax."""
        return self.required_detection_rate is not None or self.max_false_alarm_rate is not None


class ForecastBusinessSpec(Strict):
    """Stage 3 of a forecasting PoC: what one unit forecast too low (a lost sale) and too high
    (holding or disposal) costs, how many units the forecasts cover per month, and optionally the
    accuracy of the forecasts the company makes today (MASE, as the report scores)."""

    kind: ClassVar[str] = "forecast"
    under_forecast_cost: Amount
    over_forecast_cost: Amount
    monthly_volume: Annotated[Number, Field(gt=0, le=1e15)]
    current_mase: Annotated[Number, Field(gt=0, le=1000)] | None = None
    serving: ServingSpec | None = None


class ServingOnlySpec(Strict):
    """A business block that prices serving alone (any task)."""

    kind: ClassVar[str] = "serving"
    serving: ServingSpec


FORECAST_KEYS = frozenset(ForecastBusinessSpec.model_fields) - {"serving"}


def _business_kind(value: Any) -> str:
    """Which business block a recipe wrote: the forecasting one where any of its keys is set, serving
    alone where `serving` is its only key."""
    if isinstance(value, dict):
        if set(value) == {"serving"}:
            return "serving"
        return "forecast" if FORECAST_KEYS & set(value) else "rates"
    return getattr(value, "kind", "rates")


BusinessBlock = Annotated[Union[Annotated[BusinessSpec, Tag("rates")],
                                Annotated[ForecastBusinessSpec, Tag("forecast")],
                                Annotated[ServingOnlySpec, Tag("serving")]], Discriminator(_business_kind)]


BUSINESS_NEEDS = {"rates": "detection and false-alarm rates need classes (positive_class, cost_missed ...)",
                  "forecast": "forecast costs (under_forecast_cost, over_forecast_cost, monthly_volume) need "
                              "task forecasting"}
BUSINESS_WHAT = {"rates": "detection and false-alarm rates: set positive_class, cost_missed, cost_false_alarm, "
                          "monthly_items, minutes_per_item, hourly_rate",
                 "forecast": "forecast errors: set under_forecast_cost, over_forecast_cost, monthly_volume "
                             "(and current_mase)"}
