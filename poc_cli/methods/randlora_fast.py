"""poc's RandLoRA forward and backward: peft's function, at about full fine-tuning's cost.

peft computes a RandLoRA layer as x -> (x first^T) second^T: two matmuls as wide as the
layer on every token, in forward and in backward. The update itself is a fixed matrix per
step, Delta W = second @ first (out x in; `first` and `second` are peft's own scaled,
flattened bases from `get_scaled_bases`), so it can be built once per step, added to the
frozen weight, and applied with the single matmul the base layer does anyway. Building it
costs out * in * k multiply-adds (k = r * n >= min(in, out)), independent of the batch.

The custom autograd function below saves x, the factors and W + Delta W (one weight-sized
matrix per layer, as full fine-tuning keeps a gradient per weight) rather than rebuilding
Delta W in backward: on MiniLM that measured as fast or faster, within peft's memory.
Which path is cheaper depends
on the tokens in the batch and the layer's shape (`fused_is_cheaper`); the module picks
per call. The module *is* peft's RandLoRA Linear (its class is swapped for a subclass that
only overrides `forward`), so trainable tensors, random bases, state-dict keys, saving and
loading are peft's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from peft.tuners.randlora.layer import Linear as PeftRandLoraLinear
from torch import nn
from transformers.pytorch_utils import Conv1D


class _MergedUpdateLinear(torch.autograd.Function):
    """y = x (W + s * second @ first)^T + b: one matmul; the factors get exact gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, first, second, scaling):  # noqa: ANN001, ANN205
        second_, first_ = second.to(x.dtype), first.to(x.dtype)
        if weight is None:
            effective = torch.mm(second_, first_).mul_(scaling)
        else:  # W + s * second @ first in one kernel
            effective = torch.addmm(weight.to(x.dtype), second_, first_, alpha=scaling)
        # Keep W + Delta W for grad_x: one weight-sized matrix per layer instead of a rebuild.
        ctx.save_for_backward(x, effective, first, second)
        ctx.scaling = scaling
        ctx.bias_dtype = None if bias is None else bias.dtype
        return F.linear(x, effective, None if bias is None else bias.to(x.dtype))

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        x, effective, first, second = ctx.saved_tensors
        scaling = ctx.scaling
        grad_x = grad_first = grad_second = grad_bias = None
        g = grad_out.reshape(-1, grad_out.shape[-1])
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ effective.to(grad_out.dtype)
        if ctx.needs_input_grad[3] or ctx.needs_input_grad[4]:
            # Gradient of the whole update, as full fine-tuning computes for its weight; the
            # scale is applied to the (smaller) factor gradients rather than to this matrix.
            grad_delta = (g.t() @ x.reshape(-1, x.shape[-1])).to(first.dtype)
            if ctx.needs_input_grad[3]:
                grad_first = (second.t().to(grad_delta.dtype) @ grad_delta).mul_(scaling)
            if ctx.needs_input_grad[4]:
                grad_second = (grad_delta @ first.t().to(grad_delta.dtype)).mul_(scaling)
        if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_bias = g.sum(0).to(ctx.bias_dtype)
        return grad_x, None, grad_bias, grad_first, grad_second, None


def fused_is_cheaper(tokens: int, in_features: int, out_features: int, k: int) -> bool:
    """Multiply-adds of one training step, adapter path only (the frozen layer is common to both).

    factorised (peft): forward T k (in + out), backward twice that.
    fused (poc): the weight gradient T in out (as full fine-tuning), plus two products of
    Delta W's size (building it in forward, the gradient of the trained factor): 2 out in k.
    """
    factorised = 3 * tokens * k * (in_features + out_features)
    fused = tokens * in_features * out_features + 2 * out_features * in_features * k
    return fused < factorised


class FastRandLoraLinear(PeftRandLoraLinear):
    """peft's RandLoRA Linear with a forward that picks the cheaper of two exact paths."""

    def _base_weight(self) -> torch.Tensor:
        base = self.get_base_layer()
        return base.weight.t() if isinstance(base, Conv1D) else base.weight  # Conv1D stores (in, out)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        active = [a for a in self.active_adapters if a in self.randlora_lambda]
        base = self.get_base_layer()
        if (self.disable_adapters or self.merged or len(active) != 1 or args or kwargs
                or not isinstance(base, (nn.Linear, Conv1D))):
            return super().forward(x, *args, **kwargs)
        adapter = active[0]
        first, second = self.get_scaled_bases(adapter, device=x.device)
        tokens = x.numel() // self.in_features
        if not fused_is_cheaper(tokens, self.in_features, self.out_features, first.shape[0]):
            return super().forward(x)
        previous_dtype = x.dtype
        scaling = self.scaling[adapter]
        dropout = self.randlora_dropout[adapter]
        compute = first.dtype
        if isinstance(dropout, nn.Identity) or not self.training:
            # One matmul with W + Delta W: the same work as the frozen layer alone, plus Delta W.
            out = _MergedUpdateLinear.apply(x.to(compute), self._base_weight(), base.bias, first, second, scaling)
        else:
            # Dropout feeds the adapter a different input than the frozen layer: keep them apart.
            out = base(x).to(compute) + _MergedUpdateLinear.apply(
                dropout(x).to(compute), None, None, first, second, scaling
            )
        return out.to(previous_dtype)


def accelerate(model: nn.Module) -> int:
    """Swap every peft RandLoRA Linear in `model` for poc's; returns how many were swapped."""
    swapped = 0
    for module in model.modules():
        if type(module) is PeftRandLoraLinear:
            module.__class__ = FastRandLoraLinear
            swapped += 1
    return swapped
