"""Where poc's RandLoRA step time goes against full fine-tuning: the evidence behind the
"A faster RandLoRA" in docs/benchmarks.md (issue 5).

RandLoRA's update is full rank (k = r x bases >= min(in, out)), so building Delta W and the
gradient of the scaled basis cost 2 k out in multiply-adds per layer and step whatever the
batch. This script measures (1) those products on their own, at MiniLM's shapes, and
(2) a diagnostic ablation: poc's RandLoRA with both products replaced by nothing (wrong
gradients, timing only), next to the real one and full fine-tuning, in one process,
rotated order, poc's own training step. If the ablated model is at or below full
fine-tuning and the real one above it, the two products are the whole gap.

    python benchmarks/randlora_cost.py --rounds 12
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from randlora_speed import MINILM, build, make_step, randlora_rank, rotated

import poc_cli.methods.randlora_fast as fast
from poc_cli.hardware import precision_for
from poc_cli.methods.randlora import n_bases
from poc_cli.modelhub import describe
from poc_cli.recipe import TrainingSpec

DEVICE = torch.device("cpu")
FP32 = precision_for(TrainingSpec(precision="fp32"), DEVICE)


class _WithoutUpdate(torch.autograd.Function):
    """The fused layer minus Delta W and the basis gradient: frozen matmul, grad_x, grad W only."""

    @staticmethod
    def forward(ctx, x, weight, bias, lam, gamma, basis_a, basis, scaling, input_is_min, keep):  # noqa: ANN001, ANN205, ARG004
        ctx.save_for_backward(x, weight, lam, gamma)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        x, weight, lam, gamma = ctx.saved_tensors
        grad_x = grad_out @ weight if ctx.needs_input_grad[0] else None
        grad_out.reshape(-1, grad_out.shape[-1]).t() @ x.reshape(-1, x.shape[-1])  # as the real one
        return grad_x, None, None, torch.zeros_like(lam), torch.zeros_like(gamma), None, None, None, None, None


def median_ms(f: Callable[[], object], n: int = 20) -> float:
    for _ in range(3):
        f()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def update_products_ms() -> tuple[float, int]:
    """Time of the two k-sized products per step over MiniLM's adapted layers, and their MACs."""
    arch = describe(MINILM.load(FP32, DEVICE, True), None, MINILM.task)
    r = randlora_rank(arch, MINILM.lora_rank)
    total_ms, macs = 0.0, 0
    for layer in arch.layers:
        low, high = layer.min_dim, max(layer.in_features, layer.out_features)
        k = r * n_bases(low, r)
        basis, scaled = torch.randn(high, k), torch.randn(k, low)
        weight, grad = torch.randn(high, low), torch.randn(high, low)
        total_ms += median_ms(lambda: torch.addmm(weight, basis, scaled)) + median_ms(lambda: basis.t() @ grad)
        macs += 2 * k * low * high
    return total_ms, macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="32x128", help="batch x sequence")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    batch, seq = (int(v) for v in args.size.lower().split("x"))
    ms, macs = update_products_ms()
    print(f"Delta W build + basis gradient, all adapted layers: {macs / 1e9:.2f} G multiply-adds, "
          f"{ms:.0f} ms per step ({2 * macs / ms / 1e6:.0f} GFLOP/s)")
    names = ("full", "poc", "poc without the two products")
    models = {"full": build("full", MINILM, DEVICE, FP32), "poc": build("randlora-poc", MINILM, DEVICE, FP32),
              names[2]: build("randlora-poc", MINILM, DEVICE, FP32)}
    steps = {name: make_step(model, MINILM, batch, seq, DEVICE, FP32) for name, model in models.items()}
    real = fast._MergedUpdateLinear

    def run(name: str) -> float:
        fast._MergedUpdateLinear = _WithoutUpdate if name == names[2] else real
        t0 = time.perf_counter()
        steps[name]()
        return time.perf_counter() - t0

    try:
        for name in names:
            run(name)
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in rotated(names, round_):
                times[name].append(run(name))
    finally:
        fast._MergedUpdateLinear = real
    print(f"\n{batch}x{seq}, {args.rounds} rounds, median step and median per-round ratio to full")
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(times[name], times["full"]))
        print(f"  {name:<30}{statistics.median(times[name]):>8.3f} s{ratio:>8.3f}x")


if __name__ == "__main__":
    main()
