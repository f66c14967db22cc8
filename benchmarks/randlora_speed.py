"""Step time and peak memory: LoRA, peft's RandLoRA, poc's RandLoRA, full fine-tuning.

All four run side by side in one process on the packaged all-MiniLM-L6-v2, at the budget
of LoRA r=8 (RandLoRA's r fitted by poc), over batch x sequence sizes. Steps are
interleaved round-robin, in an order rotated every round, so that machine noise hits every
contender alike; the median is reported, and each ratio is the median of the per-round
ratios (paired: both contenders ran in the same round), with their quartiles beside it.
Each step is poc's own training step: forward, backward and the `Update` that `poc run`
applies: `poc_cli.train.Step` at the recipe precision `--dtype` names (the forward under its
autocast, fp16's scaler, clipping over all trainable parameters, AdamW, schedule), with the
model's weights in bf16 for `--dtype bf16` as `poc run` loads them. Peak memory: on CUDA
torch's max_memory_allocated per contender; on CPU the peak RSS above the level before the
contender's steps (sampled every 1 ms, with freed heap returned to the OS in between).

    python benchmarks/randlora_speed.py                     # 8x64, 32x128, 64x256
    python benchmarks/randlora_speed.py --sizes 32x128 --steps 15
    python benchmarks/randlora_speed.py --sizes 8x64 --steps 5 --dtype bf16-mixed

Targets (issue 5) at 32x128 on CPU: poc RandLoRA step time <= 0.65x peft's and <= 1.0x
full fine-tuning's; peak memory <= peft's; and never slower than peft's at any size.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings
from collections.abc import Callable

import psutil
import torch
from torch import nn

from poc_cli.hardware import Precision, precision_for, weights_options
from poc_cli.methods import get_method
from poc_cli.modelhub import Architecture, describe, load_config, resolve_model
from poc_cli.recipe import DataSpec, FullSpec, LoraSpec, RandLoraSpec, TrainingSpec
from poc_cli.tasks.text_classification import TextClassification
from poc_cli.trackers.peak import release_heap
from poc_cli.train import Step

warnings.filterwarnings("ignore")
CONTENDERS = ("lora", "randlora-peft", "randlora-poc", "full")


TASK = TextClassification(DataSpec(train="unused", test_fraction=0.5))


def load_minilm(precision: Precision, device: torch.device) -> tuple[nn.Module, Architecture]:
    """The packaged MiniLM with an 8-class head (seeded), its weights loaded as `poc run` loads them
    at this precision, and its targetable layers."""
    source = resolve_model("builtin:all-MiniLM-L6-v2")
    config = load_config(TASK, source, tuple(str(i) for i in range(8)), field_value="builtin")
    torch.manual_seed(0)
    model = TASK.load_model(source, config, **weights_options(TrainingSpec(precision=precision.name), precision, device))
    return model, describe(model, None, TASK)


def randlora_rank(arch: Architecture) -> int:
    """RandLoRA's r at the budget of LoRA r=8, as `poc plan` fits it."""
    return get_method("randlora").fit(arch, get_method("lora").count(arch, 8))


def build(name: str, device: torch.device, precision: Precision) -> nn.Module:
    model, arch = load_minilm(precision, device)
    if name == "lora":
        model = get_method("lora").apply(model, spec=LoraSpec(method="lora"), r=8, arch=arch, seed=0)
    elif name.startswith("randlora"):
        spec = RandLoraSpec(method="randlora", alpha_ratio=2, implementation=name.split("-")[1])
        model = get_method("randlora").apply(model, spec=spec, r=randlora_rank(arch), arch=arch, seed=0)
    else:
        model = get_method("full").apply(model, spec=FullSpec(method="full"), r=None, arch=arch, seed=0)
    return model.to(device=device).train()


def rotated(names: tuple[str, ...], round_: int) -> tuple[str, ...]:
    """The contenders' order in a round, rotated by one each round: a contender that runs right
    after another pays for what that one left behind (freed heap, evicted caches); rotating
    spreads that over all of them."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def make_step(model: nn.Module, batch: int, seq: int, device: torch.device,
              precision: Precision) -> Callable[[], None]:
    train_step = Step(model, task=TASK, training=TrainingSpec(), lr=1e-5, steps=100_000, precision=precision)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 20000, (batch, seq), generator=generator).to(device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "labels": torch.randint(0, 8, (batch,), generator=generator).to(device)}

    def step() -> None:
        train_step([inputs])
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def peak_memory_mib(step: Callable[[], None], device: torch.device) -> float:
    """Peak memory of two steps above the level before them."""
    release_heap()  # garbage, torch's CUDA cache, glibc's heap
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        step()
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    step()
    step()
    done.set()
    thread.join()
    return (peak - before) / 2**20


def paired(times: dict[str, list[float]], over: str, under: str) -> str:
    """Median of the per-round ratios over/under, with their quartiles."""
    ratios = [a / b for a, b in zip(times[over], times[under])]
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return f"{statistics.median(ratios):.2f}x ({low:.2f}-{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8x64,32x128,64x256", help="batch x sequence, comma separated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per contender (after 1 warm-up)")
    parser.add_argument("--dtype", choices=["fp32", "bf16-mixed", "fp16-mixed", "bf16"], default="fp32",
                        help="a recipe's training.precision")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    precision = precision_for(TrainingSpec(precision=args.dtype), device)
    print(f"device {device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}, "
          f"{args.steps} timed steps after 1 warm-up; median step time, peak memory of two steps")
    models = {name: build(name, device, precision) for name in CONTENDERS}
    for size in args.sizes.split(","):
        batch, seq = (int(v) for v in size.lower().split("x"))
        steps = {name: make_step(model, batch, seq, device, precision) for name, model in models.items()}
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for name in CONTENDERS:  # warm-up: allocator growth, lazy init
            steps[name]()
        for round_ in range(args.steps):
            for name in rotated(CONTENDERS, round_):
                t0 = time.perf_counter()
                steps[name]()
                times[name].append(time.perf_counter() - t0)
        memory = {name: peak_memory_mib(steps[name], device) for name in CONTENDERS}
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"\n{batch}x{seq}")
        print(f"  {'contender':<15}{'median step s':>15}{'peak MiB':>12}")
        for name in CONTENDERS:
            print(f"  {name:<15}{median[name]:>15.3f}{memory[name]:>12.0f}")
        print(f"  poc/peft RandLoRA time {paired(times, 'randlora-poc', 'randlora-peft')}   "
              f"poc RandLoRA/full time {paired(times, 'randlora-poc', 'full')}   "
              f"poc/peft RandLoRA memory {memory['randlora-poc'] / memory['randlora-peft']:.2f}x")


if __name__ == "__main__":
    main()
