"""The dtypes a built model really has, and fp32 master weights where the precision needs them.

What a job asked for and what it got can differ: transformers loads a checkpoint in its own
dtype unless told otherwise, peft upcasts adapter weights and RandLoRA's shared bases to fp32,
bitsandbytes stores a quantized base as packed integers and leaves embeddings, norms and the
head in the dtype given. So the record stores the dtypes read off the built model, not the
request, and every trained parameter is fp32 where the precision keeps master weights: AdamW
on bf16 weights loses small updates, and fp16's scaler refuses fp16 gradients outright.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from poc_cli.hardware import Precision

SHOWN = 8  # names of upcast tensors kept in the record; the count covers all of them


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.bfloat16` as `bfloat16`."""
    return str(dtype).removeprefix("torch.")


def parameter_dtypes(model: nn.Module) -> dict[str, dict[str, int]]:
    """Parameters by dtype, trainable and frozen apart (counted as stored: a 4-bit base's packed
    bytes count as its uint8 elements)."""
    counts: dict[str, Counter[str]] = {"trainable": Counter(), "frozen": Counter()}
    for parameter in model.parameters():
        side = "trainable" if parameter.requires_grad else "frozen"
        counts[side][dtype_name(parameter.dtype)] += parameter.numel()
    return {side: dict(sorted(found.items())) for side, found in counts.items()}


def to_master_weights(model: nn.Module, precision: Precision) -> dict[str, object]:
    """Make every trainable half-precision parameter fp32 where `precision` keeps master weights;
    returns what was upcast (tensor count, parameters, the first names) for the record."""
    upcast = []
    if precision.master_weights:
        for name, parameter in model.named_parameters():
            if parameter.requires_grad and parameter.dtype in (torch.float16, torch.bfloat16):
                parameter.data = parameter.data.float()
                upcast.append((name, parameter.numel()))
    return {"tensors": len(upcast), "parameters": sum(n for _, n in upcast), "names": [n for n, _ in upcast[:SHOWN]]}
