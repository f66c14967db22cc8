"""A trained adapter as a multi-LoRA server would serve it: converted to LoRA and scored again.

vLLM and the other multi-adapter servers load LoRA adapters only. peft's `convert_to_lora` turns an
additive adapter (RandLoRA, VeRA, LoKr ...) into one by an SVD of each layer's update, with some loss:
what that loss is on the PoC's own test split is what a team serving many tasks needs to know. The
rank is LoRA's rank at the PoC's budget, so the converted adapter serves at the LoRA row's size.
peft converts Linear layers only; an adapter it cannot convert says why.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poc_cli.paths import dir_bytes
from poc_cli.records.serving import LoraConversion
from poc_cli.tasks import Task


def _kind(model: nn.Module) -> tuple[str, str | None]:
    """("lora", None) for a plain LoRA adapter (rsLoRA too); ("other", reason) for a LoRA whose conversion
    this job does not measure (PiSSA, OLoRA); ("convert", None) otherwise."""
    config = getattr(model, "peft_config", {}).get("default")
    if config is None:
        return "other", "no adapter"
    if str(getattr(config.peft_type, "value", config.peft_type)) != "LORA":
        return "convert", None
    init = getattr(config, "init_lora_weights", True)
    if isinstance(init, str) and init.lower().startswith(("pissa", "olora")):
        name = {"pissa": "PiSSA", "olora": "OLoRA"}[init.lower()[:5].rstrip("_")]
        return "other", (f"{name} moves the base weights it starts from: it serves as a LoRA of the original "
                         "base only when saved with peft's path_initial_model_for_weight_conversion (rank 2r, not "
                         "measured here)")
    return ("convert", None) if getattr(config, "use_dora", False) else ("lora", None)


def budget_rank(layers: list[nn.Module], budget: int | None) -> int:
    """LoRA's rank at `budget` over these layers (as `methods.lora.fit` fits it), within their smallest side."""
    sides = [(layer.in_features, layer.out_features) for layer in layers]
    per_rank = sum(i + o for i, o in sides) or 1
    rank = max(1, round((budget or per_rank) / per_rank))
    return min(rank, min(min(i, o) for i, o in sides))


def _bytes(model: nn.Module) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return dir_bytes(Path(tmp))


def conversion(task: Task, model: nn.Module, *, dataset: Any, processor: Any, batch_size: int, device: torch.device,
               autocast: Any, budget: int | None, score: tuple[str, float | None],
               labels: tuple[str, ...]) -> LoraConversion | None:
    """Convert `model`'s adapter to LoRA and score it on `dataset`: the record's `serving.lora`. The model's
    own adapter is taken off in the process (call last). None where the model has no adapter."""
    kind, reason = _kind(model)
    if reason == "no adapter":
        return None
    if kind == "lora":
        return LoraConversion(status="is LoRA")
    if reason is not None:
        return LoraConversion(status="not measured", reason=reason)
    from peft import convert_to_lora, get_peft_model, set_peft_model_state_dict
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer) and hasattr(m, "in_features")]
    rank = budget_rank(layers, budget) if layers else 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config, state = convert_to_lora(model, rank)
    except (TypeError, ValueError, NotImplementedError) as error:
        return LoraConversion(status="cannot convert", rank=rank, reason=f"peft: {str(error).splitlines()[0][:200]}")
    converted = get_peft_model(model.unload(), config)
    set_peft_model_state_dict(converted, state)
    converted.to(device)
    metric, original = score
    with torch.no_grad(), autocast():
        batches = task.loader(dataset, processor, batch_size=batch_size, shuffle=False, seed=0)
        value = task.evaluate(task.predict(converted, batches, device=device), labels).get(metric)
    return LoraConversion(status="converted", rank=rank, bytes=_bytes(converted), metric=metric, score=value,
                          difference=None if value is None or original is None else value - original)
