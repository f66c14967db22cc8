"""What serving N tasks costs a month, per method, merged or as adapters on one base (issue 43).

Two ways to serve N tasks, each on instances with one GPU of `gpu_memory_gib`, billed
`hours_per_month` at the recipe's GPU price:
- merged: one full model per task (the only way for full fine-tuning). An instance holds as many
  whole models as fit its memory; the instances needed are the more of what the N models' memory
  needs and what the requests need at the merged throughput.
- adapters: one base on each instance and the N adapters beside it (LoRA, RandLoRA, DoRA, VeRA kept
  unmerged). The instances needed are the more of what the adapters' memory needs (base plus as
  many adapters as fit, per instance) and what the requests need at the unmerged throughput.
Capacity is planned at `utilisation` of the measured throughput (requests arrive unevenly). Memory is
the models' tensors as measured (weights only: activations and a language model's KV cache come on
top). The total cost of ownership over `horizon_months` is N trainings plus that many months of the
cheaper way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from poc_cli.business_spec import ServingSpec
from poc_cli.serving_summary import ServingSummary


@dataclass(frozen=True)
class Way:
    """One way of serving the tasks: the instances it needs, what decides that number, and its cost."""

    name: Literal["merged", "adapters"]
    instances: int | None  # None: one model (or the base with one adapter) does not fit an instance
    bound: Literal["memory", "requests", "does not fit", "cannot merge"]
    monthly: float | None


@dataclass(frozen=True)
class ServingCost:
    """One method's serving: both ways where it has both, the cheaper one, and the total over the horizon."""

    merged: Way
    adapters: Way | None
    cheaper: Way
    trainings: float  # one training per task
    total: float | None  # trainings + the cheaper way's months over the horizon


def capacity(spec: ServingSpec, throughput_per_s: float) -> float:
    """Requests one instance serves a month at the planned utilisation of its measured throughput."""
    return throughput_per_s * 3600 * spec.hours_per_month * spec.utilisation


def _way(name: Literal["merged", "adapters"], spec: ServingSpec, *, per_instance: int, throughput: float | None,
         price: float) -> Way:
    if per_instance < 1:
        return Way(name, None, "does not fit", None)
    by_memory = math.ceil(spec.tasks / per_instance)
    demand = spec.tasks * spec.requests_per_month
    by_requests = math.ceil(demand / capacity(spec, throughput)) if demand and throughput else 0
    instances = max(by_memory, by_requests, 1)
    return Way(name, instances, "requests" if by_requests > by_memory else "memory",
               instances * spec.hours_per_month * price)


def serving_cost(spec: ServingSpec, serving: ServingSummary, *, price_per_hour: float,
                 training: float) -> ServingCost:
    """Both ways for one method at `price_per_hour` an instance, `training`: one training's cost."""
    memory = spec.gpu_memory_gib * 1024  # MiB
    merged = (_way("merged", spec, per_instance=int(memory // serving.weights_mib),
                   throughput=serving.throughput_merged_per_s, price=price_per_hour)
              if serving.merges or serving.merge == "nothing to merge" else Way("merged", None, "cannot merge", None))
    adapters = None
    if serving.adapter_mib is not None:
        room = memory - serving.weights_mib
        adapters = _way("adapters", spec, per_instance=int(room // serving.adapter_mib) if room > 0 else 0,
                        throughput=serving.throughput_unmerged_per_s, price=price_per_hour)
    ways = [w for w in (merged, adapters) if w is not None and w.monthly is not None]
    cheaper = min(ways, key=lambda w: w.monthly) if ways else merged  # type: ignore[arg-type, return-value]
    trainings = spec.tasks * training
    total = trainings + cheaper.monthly * spec.horizon_months if cheaper.monthly is not None else None
    return ServingCost(merged, adapters, cheaper, trainings, total)
