"""RandLoRA on convolutions: poc's own layer, as peft's RandLoRA adapts Linear and Conv1D only.

A convolution's update is a matrix over its flattened fan-in, Delta W (out x in * kh * kw),
built from the shared random bases and the trained scalings exactly as for a Linear of that
shape (peft's `get_scaled_bases`, so lambda is r x n and gamma n x min(out, fan-in), and the
count is RandLoRA's formula with the fan-in as the input width), then shaped as the kernel.
The layer convolves once with W + s Delta W, with the base layer's stride, padding and
dilation: building Delta W costs out * fan-in * r * n multiply-adds a step whatever the image
size, where a second convolution over every image position would cost that per position.

The bases are peft's: the tuner is peft's RandLoRA model with two methods widened (the
largest shape, to size the shared bases, and the layer built for a convolution), and it is
put in peft's table of tuners when this module is imported, so `get_peft_model`, saving and
`PeftModel.from_pretrained` use it. For Linear and Conv1D layers it is peft's own, unchanged.
Only ungrouped `nn.Conv1d` and `nn.Conv2d` are adapted (see `targets`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.tuners.randlora.layer import Linear as PeftRandLoraLinear
from peft.tuners.randlora.layer import RandLoraLayer
from peft.tuners.randlora.model import RandLoraModel
from peft.tuners.tuners_utils import BaseTunerLayer, _maybe_include_all_linear_layers
from peft.utils import PeftType
from torch import nn
from transformers.pytorch_utils import Conv1D

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)


class RandLoraConv(nn.Module, RandLoraLayer):
    """RandLoRA on an ungrouped `nn.Conv1d` or `nn.Conv2d`: peft's trained tensors, bases, state-dict
    keys, merging and unmerging, with the kernel-shaped update of the docstring above."""

    # peft's Linear computes these from `in_features`, `out_features` and the kernel-free update alone.
    get_scaled_bases = PeftRandLoraLinear.get_scaled_bases
    merge = PeftRandLoraLinear.merge
    unmerge = PeftRandLoraLinear.unmerge

    def __init__(self, base_layer: nn.Module, randlora_A: Any, randlora_B: Any, adapter_name: str,  # noqa: N803
                 config: Any, r: int = 0, **kwargs: Any) -> None:
        nn.Module.__init__(self)
        # RandLoraLayer.__init__ reads the width of a Linear or Conv1D only: its fields, set for a convolution.
        self.base_layer = base_layer
        self.r, self.scaling = {}, {}
        self.randlora_dropout = nn.ModuleDict({})
        self.randlora_lambda = nn.ParameterDict({})
        self.randlora_gamma = nn.ParameterDict({})
        self.randlora_A = self.randlora_B = None
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        self.cast_input_dtype_enabled = True
        conv = self.get_base_layer()
        self.in_features = conv.in_channels * math.prod(conv.kernel_size)  # the update's fan-in
        self.out_features = conv.out_channels
        self.kwargs = kwargs
        self.fan_in_fan_out = False
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, randlora_A, randlora_B, r, config=config)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        """s * Delta W in the kernel's shape (out, in, *kernel), as peft's Linear builds its matrix."""
        update_b, update_a = self.get_scaled_bases(adapter)
        return (update_a @ update_b).mul(self.scaling[adapter]).reshape(self.get_base_layer().weight.shape)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """One convolution with W + s Delta W (a second one over the dropped-out input where the adapter
        has dropout); the output in the dtype the base layer computes in (autocast's where it is on)."""
        conv = self.get_base_layer()
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return conv(x, *args, **kwargs)
        active = [a for a in self.active_adapters if a in self.randlora_lambda]
        if self.merged or not active:
            return conv(x, *args, **kwargs)
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        with torch.autocast(device, enabled=False):
            x = x.to(dtype)
            weight, dropped = conv.weight.to(dtype), []
            for adapter in active:
                delta = self.get_delta_weight(adapter).to(dtype)
                if isinstance(self.randlora_dropout[adapter], nn.Identity):
                    weight = weight + delta
                else:
                    dropped.append((self.randlora_dropout[adapter], delta))
            bias = None if conv.bias is None else conv.bias.to(dtype)
            out = conv._conv_forward(x, weight, bias)
            for dropout, delta in dropped:
                out = out + conv._conv_forward(dropout(x), delta, None)
        return out

    def __repr__(self) -> str:
        return "randlora." + super().__repr__()


def _matrix_shape(module: nn.Module) -> tuple[int, int] | None:
    """(out, in) of the update a targeted layer gets: a convolution's over its flattened fan-in."""
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if isinstance(module, Conv1D):
        rows, cols = module.weight.shape
        return int(cols), int(rows)
    if type(module) in CONVOLUTIONS:
        return module.out_channels, module.in_channels * math.prod(module.kernel_size)
    return None


class ConvRandLoraModel(RandLoraModel):
    """peft's RandLoRA tuner, adapting ungrouped convolutions too (poc's `RandLoraConv`)."""

    def _find_dim(self, config: Any) -> tuple[int, int]:
        """The largest (out, in) over the targeted layers, which sizes the shared bases (peft's, with
        a convolution counted as its out x fan-in matrix)."""
        prepared = self._prepare_adapter_config(config, self.get_model_config(self.model))
        config = _maybe_include_all_linear_layers(prepared, self.model)
        shapes = [shape for key, module in self.model.named_modules()
                  if self._check_target_module_exists(config, key) and (shape := _matrix_shape(module)) is not None]
        if not shapes:
            raise ValueError("No layers types compatible with RandLora were found. Please check "
                             "`peft_config.target_modules`.")
        return max(s[0] for s in shapes), max(s[1] for s in shapes)

    @staticmethod
    def _create_new_module(randlora_config: Any, randlora_A: Any, randlora_B: Any, adapter_name: str,  # noqa: N803
                           target: nn.Module, **kwargs: Any) -> nn.Module:
        base = target.get_base_layer() if isinstance(target, BaseTunerLayer) else target
        if type(base) in CONVOLUTIONS:
            return RandLoraConv(target, randlora_A, randlora_B, adapter_name, config=randlora_config, r=kwargs["r"])
        return RandLoraModel._create_new_module(randlora_config, randlora_A, randlora_B, adapter_name, target,
                                                **kwargs)


PEFT_TYPE_TO_TUNER_MAPPING[PeftType.RANDLORA] = ConvRandLoraModel
