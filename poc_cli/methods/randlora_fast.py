"""poc's RandLoRA forward and backward: peft's function, at about full fine-tuning's cost.

peft computes a RandLoRA layer as x -> (x first^T) second^T: two matmuls as wide as the
layer on every token, in forward and in backward. The update itself is a fixed matrix per
step, Delta W = second @ first (out x in; `first` and `second` are peft's scaled, flattened
bases, as `get_scaled_bases` returns them), so it can be built once per step, added to the
frozen weight, and applied with the single matmul the base layer does anyway. Building it
costs out * in * k multiply-adds (k = r * n >= min(in, out)), independent of the batch.

Backward needs W + Delta W again for the input's gradient. Keeping it costs one weight-sized
matrix per layer until backward reaches the layer; rebuilding it costs another out * in * k.
peft keeps, per layer, the tokens' projection (tokens x k) and the scaled basis (k x min):
less than a weight when the tokens are few and the layer is rectangular (an LLM's MLP at 512
tokens). So the layer picks per call (`choose_path`) the path with the fewest multiply-adds
among those that keep no more for backward than peft's would: fused keeping W + Delta W,
fused rebuilding it, or peft's own. The custom autograd function builds the scaled basis
itself and returns the gradients of lambda and gamma directly. The module *is* peft's
RandLoRA Linear (its class is swapped for a subclass that only overrides `forward`), so
trainable tensors, random bases, state-dict keys, saving and loading are peft's own.
"""

from __future__ import annotations

from enum import Enum

import torch
import torch.nn.functional as F
from peft.tuners.randlora.layer import Linear as PeftRandLoraLinear
from torch import nn
from transformers.pytorch_utils import Conv1D


class _MergedUpdateLinear(torch.autograd.Function):
    """y = x (W + s Delta W)^T + b in one matmul, with exact gradients of lambda and gamma.

    peft's scaled basis is `scaled` = lambda[:, :, None] * A * gamma (r x n x m, flattened to
    k x m, m = min(in, out)); with `basis` = its other, frozen basis flattened to M x k
    (M = max(in, out)), Delta W is basis @ scaled when the input side is the smaller one and
    its transpose otherwise. Going from the gradient of `scaled` straight to those of lambda
    and gamma skips peft's per-layer autograd node and its einsums, which measured about
    1 ms a layer on the CPU.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, lam, gamma, basis_a, basis, scaling, input_is_min, keep):  # noqa: ANN001, ANN205
        dtype = x.dtype  # the caller's `compute_dtype`
        # Every product in one explicit dtype, autocast's where it is on: backward runs outside
        # the autocast context (as training loops call it) and must meet the same dtypes.
        with torch.autocast(x.device.type, enabled=False):
            basis_ = basis.to(dtype)
            effective = _effective(weight, lam, gamma, basis_a, basis_, scaling, input_is_min, dtype)
            out = F.linear(x, effective, None if bias is None else bias.to(dtype))
        # keep: W + Delta W itself for grad_x; else the frozen weight (no copy) to rebuild it from.
        ctx.save_for_backward(x, effective if keep else weight, lam, gamma, basis_a, basis_)
        ctx.scaling = scaling
        ctx.input_is_min = input_is_min
        ctx.keep = keep
        ctx.x_dtype = x.dtype
        ctx.bias_dtype = None if bias is None else bias.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        x, kept, lam, gamma, basis_a, basis = ctx.saved_tensors
        grad_x = grad_lam = grad_gamma = grad_bias = None
        grad_out = grad_out.to(x.dtype)
        g = grad_out.reshape(-1, grad_out.shape[-1])
        if ctx.needs_input_grad[0]:
            effective = kept if ctx.keep else _effective(kept, lam, gamma, basis_a, basis, ctx.scaling,
                                                         ctx.input_is_min, x.dtype)
            grad_x = (grad_out @ effective).to(ctx.x_dtype)
            del effective
        if ctx.needs_input_grad[3] or ctx.needs_input_grad[4]:
            flat_x = x.reshape(-1, x.shape[-1])
            # basis (max x k) meets the max side, the scaled basis the min side: g on the output,
            # x on the input side.
            wide, narrow = (g, flat_x) if ctx.input_is_min else (flat_x, g)
            if gradient_through_update(g.shape[0], basis.shape[0], narrow.shape[1], basis.shape[1]):
                # The gradient of the whole update, as full fine-tuning computes for its weight.
                grad_scaled = basis.t() @ (wide.t() @ narrow)
            else:  # through the tokens' projection onto the basis, as peft's backward goes
                grad_scaled = (wide @ basis).t() @ narrow
            grad_lam, grad_gamma = _scaling_gradients(grad_scaled.to(lam.dtype).mul_(ctx.scaling), lam, gamma,
                                                      basis_a, ctx.needs_input_grad[3], ctx.needs_input_grad[4])
        if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_bias = g.sum(0).to(ctx.bias_dtype)
        return grad_x, None, grad_bias, grad_lam, grad_gamma, None, None, None, None, None


def _scaling_gradients(grad_scaled: torch.Tensor, lam: torch.Tensor, gamma: torch.Tensor, basis_a: torch.Tensor,
                       need_lam: bool, need_gamma: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gradients of lambda and gamma from the scaled basis' (k x m): the products that reach it
    run in the compute dtype, these small reductions in lambda's (fp32)."""
    weighted = grad_scaled.to(lam.dtype).view(lam.shape[0], lam.shape[1], -1) * basis_a.to(lam.dtype)
    grad_lam = (weighted * gamma[None].to(lam.dtype)).sum(-1) if need_lam else None
    grad_gamma = (weighted * lam[:, :, None]).sum(0).to(gamma.dtype) if need_gamma else None
    return grad_lam, grad_gamma


def _scaled_basis(lam: torch.Tensor, gamma: torch.Tensor, basis_a: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """peft's scaled basis lambda[:, :, None] * A * gamma, flattened to k x m, in `dtype`."""
    return (lam[:, :, None].to(dtype) * basis_a.to(dtype) * gamma[None].to(dtype)).flatten(end_dim=1)


class _ScaledBasis(torch.autograd.Function):
    """The scaled basis for peft's factorised path, in the compute dtype. It keeps only lambda,
    gamma and the frozen basis for backward, as peft's `UniqueBaseGrad` does, but reduces the
    gradients elementwise in fp32 instead of in einsums at the bases' dtype."""

    @staticmethod
    def forward(ctx, lam, gamma, basis_a, dtype):  # noqa: ANN001, ANN205
        ctx.save_for_backward(lam, gamma, basis_a)
        return _scaled_basis(lam, gamma, basis_a, dtype)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        lam, gamma, basis_a = ctx.saved_tensors
        grad_lam, grad_gamma = _scaling_gradients(grad, lam, gamma, basis_a, ctx.needs_input_grad[0],
                                                  ctx.needs_input_grad[1])
        return grad_lam, grad_gamma, None, None


def _effective(weight: torch.Tensor | None, lam: torch.Tensor, gamma: torch.Tensor, basis_a: torch.Tensor,
               basis: torch.Tensor, scaling: float, input_is_min: bool, dtype: torch.dtype) -> torch.Tensor:
    """W + s Delta W (s Delta W alone without a weight) in `dtype`, Delta W from the scaled basis."""
    scaled = _scaled_basis(lam, gamma, basis_a, dtype)
    second, first = (basis, scaled) if input_is_min else (scaled.t(), basis.t())
    if weight is None:
        return torch.mm(second, first).mul_(scaling)
    return torch.addmm(weight.to(dtype), second, first, alpha=scaling)  # W + s * Delta W in one kernel


def compute_dtype(device_type: str, weight_dtype: torch.dtype) -> torch.dtype:
    """What poc's RandLoRA computes in: autocast's dtype where autocast is on, else the frozen
    weight's (bf16 at `precision: bf16`), as the layer it adapts does. peft's follows its bases,
    which peft keeps in fp32: at `bf16` its adapter costs fp32's time and memory while LoRA's
    frozen layers run in bf16."""
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else weight_dtype


def peft_compute_dtype(device_type: str, basis_dtype: torch.dtype) -> torch.dtype:
    """What peft's own RandLoRA forward computes in: autocast's dtype where it is on, else its bases'
    (fp32 on a CPU, which peft uses for half-precision bases there)."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    if device_type == "cpu" and basis_dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return basis_dtype


class Path(Enum):
    """How one call of a RandLoRA layer computes (see `choose_path`)."""

    FACTORISED = "factorised"  # peft's own forward
    FUSED_KEEP = "fused, W + Delta W kept for backward"
    FUSED_REBUILD = "fused, W + Delta W rebuilt in backward"


def _basis_gradient_costs(tokens: int, high: int, low: int, k: int) -> tuple[int, int]:
    """Multiply-adds of the scaled basis' gradient through the whole update's gradient
    (tokens high low + high low k) and through the tokens' projection onto the basis
    (tokens k (high + low))."""
    return tokens * high * low + high * low * k, tokens * k * (high + low)


def gradient_through_update(tokens: int, high: int, low: int, k: int) -> bool:
    """Whether the scaled basis' gradient is cheaper through the whole update's gradient than
    through the tokens' projection: the first wins at many tokens, the second at a few."""
    through_update, through_projection = _basis_gradient_costs(tokens, high, low, k)
    return through_update <= through_projection


def choose_path(tokens: int, in_features: int, out_features: int, k: int, *, compute_bytes: int = 4,
                peft_bytes: int = 4) -> Path:
    """The path with the fewest multiply-adds per training step among those that keep, for
    backward, no more bytes than peft's does (beyond the input, which every path keeps).

    With T tokens, M = max(in, out), m = min(in, out), P = in out, multiply-adds of the adapter
    path (the frozen layer's forward and input gradient, 2 T P, are common to all):
      factorised (peft): forward T k (M + m), backward T k (M + 2 m);
      fused: building Delta W, P k (the frozen layer's matmul then applies W + Delta W), and the
      scaled basis' gradient, the cheaper of T P + P k and T k (M + m) (`gradient_through_update`);
      rebuilding W + Delta W in backward adds another P k.
    Kept for backward: peft the projection T k and the scaled basis k m, in its compute dtype
    (`peft_bytes` each: fp32 at `precision: bf16`, where peft computes in its bases' dtype);
    fused keeping W + Delta W P elements in poc's compute dtype (`compute_bytes`); fused rebuilding
    nothing weight-sized.
    """
    high, low = max(in_features, out_features), min(in_features, out_features)
    weight = in_features * out_features
    factorised = tokens * k * (2 * high + 3 * low)
    fused = weight * k + min(_basis_gradient_costs(tokens, high, low, k))
    peft_keeps = (tokens * k + k * low) * peft_bytes
    if weight * compute_bytes <= peft_keeps and fused < factorised:
        return Path.FUSED_KEEP
    if fused + weight * k < factorised:
        return Path.FUSED_REBUILD
    return Path.FACTORISED


class FastRandLoraLinear(PeftRandLoraLinear):
    """peft's RandLoRA Linear with a forward that picks the cheaper of two exact paths."""

    def _base_weight(self) -> torch.Tensor:
        base = self.get_base_layer()
        return base.weight.t() if isinstance(base, Conv1D) else base.weight  # Conv1D stores (in, out)

    def _frozen_bases(self, adapter: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """peft's slices of the shared bases (as in `get_scaled_bases`)."""
        basis_a, basis_b = self.randlora_A[adapter], self.randlora_B[adapter]
        low, high = min(self.out_features, self.in_features), max(self.out_features, self.in_features)
        sliced_a = basis_a[:, : self.num_bases, :low].to(device)
        sliced_b = basis_b[:high, : self.num_bases, :].to(device).flatten(start_dim=1)
        return sliced_a, sliced_b

    def _factorised(self, x: torch.Tensor, adapter: str, compute: torch.dtype) -> torch.Tensor:
        """peft's path, x -> (x first^T) second^T beside the frozen layer, with its products in
        `compute` (peft's own forward runs them in its bases' dtype, fp32)."""
        basis_a, basis = self._frozen_bases(adapter, x.device)
        scaled = _ScaledBasis.apply(self.randlora_lambda[adapter], self.randlora_gamma[adapter], basis_a, compute)
        basis = basis.to(compute)
        first, second = (scaled, basis) if self.in_features <= self.out_features else (basis.t(), scaled.t())
        update = F.linear(F.linear(self.randlora_dropout[adapter](x).to(compute), first), second)
        return (self.base_layer(x) + update * self.scaling[adapter]).to(x.dtype)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        active = [a for a in self.active_adapters if a in self.randlora_lambda]
        base = self.get_base_layer()
        if (self.disable_adapters or self.merged or len(active) != 1 or args or kwargs
                or not isinstance(base, (nn.Linear, Conv1D))):
            return super().forward(x, *args, **kwargs)
        adapter = active[0]
        lam, gamma = self.randlora_lambda[adapter], self.randlora_gamma[adapter]
        k = lam.numel()
        tokens = x.numel() // self.in_features
        weight = self._base_weight()
        compute = compute_dtype(x.device.type, weight.dtype)
        peft_dtype = peft_compute_dtype(x.device.type, self.randlora_B[adapter].dtype)
        path = choose_path(tokens, self.in_features, self.out_features, k, compute_bytes=compute.itemsize,
                           peft_bytes=peft_dtype.itemsize)
        if path is Path.FACTORISED:
            return self._factorised(x, adapter, compute)
        basis_a, basis = self._frozen_bases(adapter, x.device)
        previous_dtype = x.dtype
        scaling = self.scaling[adapter]
        dropout = self.randlora_dropout[adapter]
        input_is_min = self.in_features <= self.out_features
        factors = (lam.to(x.device), gamma.to(x.device), basis_a, basis, scaling, input_is_min,
                   path is Path.FUSED_KEEP)
        if isinstance(dropout, nn.Identity) or not self.training:
            # One matmul with W + Delta W: the same work as the frozen layer alone, plus Delta W.
            out = _MergedUpdateLinear.apply(x.to(compute), weight, base.bias, *factors)
        else:
            # Dropout feeds the adapter a different input than the frozen layer: keep them apart.
            out = base(x).to(compute) + _MergedUpdateLinear.apply(dropout(x).to(compute), None, None, *factors)
        return out.to(previous_dtype)


def accelerate(model: nn.Module) -> int:
    """Swap every peft RandLoRA Linear in `model` for poc's; returns how many were swapped."""
    swapped = 0
    for module in model.modules():
        if type(module) is PeftRandLoraLinear:
            module.__class__ = FastRandLoraLinear
            swapped += 1
    return swapped
