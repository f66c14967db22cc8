"""peft's 4- and 8-bit RandLoRA layers keep the job's dtype: real bitsandbytes layers, which run on a
CPU too (bitsandbytes 0.45 and newer), where bitsandbytes is installed (the gpu extra); skipped with
the reason where it is not (CI: the extra's import would cost every job a second of start-up)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from poc_cli.methods import get_method
from poc_cli.methods.randlora import CAST_BACK, RandLoraSpec
from poc_cli.modelhub import Architecture
from poc_cli.targets import Layer

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                                reason="needs bitsandbytes (pip install 'poc-cli[gpu]'); not installed here")


class TwoLayers(nn.Module):
    """A 4-bit and an 8-bit layer, as transformers leaves a quantized base (`is_loaded_in_*` set); moving
    it to a device quantizes the weights."""

    def __init__(self) -> None:
        import bitsandbytes as bnb

        super().__init__()
        self.four = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.bfloat16, quant_type="nf4")
        self.eight = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False)
        self.is_loaded_in_4bit = self.is_loaded_in_8bit = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.eight(self.four(x))


def test_quantized_randlora_layers_return_the_input_dtype() -> None:
    """peft 0.21's layers return fp32 for a bf16 input when autocast is off (`precision: bf16`); applied
    by poc, each returns bf16, and the record's implementation says how."""
    from peft import RandLoraConfig, get_peft_model

    torch.manual_seed(0)
    x = torch.randn(4, 64, dtype=torch.bfloat16)
    raw = get_peft_model(TwoLayers().to("cpu"), RandLoraConfig(r=8, target_modules=["four", "eight"]))
    assert raw.base_model.model.four(x).dtype == torch.float32  # the defect, as peft ships it
    torch.manual_seed(0)
    model = TwoLayers().to("cpu")
    arch = Architecture(layers=(Layer("four", 64, 64), Layer("eight", 64, 64)), head_modules=(), head_parameters=0,
                        total_parameters=sum(p.numel() for p in model.parameters()))
    method = get_method("randlora")
    adapted = method.apply(model, spec=RandLoraSpec(method="randlora"), r=8, arch=arch, seed=0)
    inner = adapted.base_model.model
    assert inner.four(x).dtype == inner.eight(x).dtype == torch.bfloat16
    assert adapted(x).dtype == torch.bfloat16
    assert method.implementation(adapted) == f"peft ({CAST_BACK})"
    adapted(x).float().sum().backward()  # the cast keeps the adapters' gradients
    assert all(p.grad is not None for p in adapted.parameters() if p.requires_grad)
