"""Step time and peak memory: LoRA, peft's RandLoRA, poc's RandLoRA, full fine-tuning.

All four run side by side in one process, RandLoRA's r fitted by poc to LoRA's budget, over
batch x sequence sizes, on one of two models:

  --model minilm      the packaged all-MiniLM-L6-v2 with an 8-class head, LoRA r=8
                      (sizes 8x64, 32x128, 64x256)
  --model llama-like  a random Llama built from a config (hidden 1024, intermediate 2816,
                      4 decoder layers, 16 heads, vocabulary 2,048) as a causal LM, every
                      attention and MLP Linear targeted, LoRA r=16 (sizes 1x512, 1x2048, 4x512)

Steps are interleaved round-robin, in an order rotated every round, so that machine noise
hits every contender alike; the median is reported, and each ratio is the median of the
per-round ratios (paired: both contenders ran in the same round), with their quartiles beside
it. Each step is poc's own training step: forward, backward and the `Update` that `poc run`
applies: `poc_cli.train.Step` at the recipe precision `--dtype` names (the forward under its
autocast, fp16's scaler, clipping over all trainable parameters, AdamW, schedule), with the
model's weights in bf16 for `--dtype bf16` as `poc run` loads them. Peak memory: on CUDA
torch's max_memory_allocated per contender; on CPU the peak RSS above the level before the
contender's steps (sampled every 1 ms, with freed heap returned to the OS in between).

    python benchmarks/randlora_speed.py                     # MiniLM: 8x64, 32x128, 64x256
    python benchmarks/randlora_speed.py --sizes 32x128 --steps 15
    python benchmarks/randlora_speed.py --model llama-like --steps 5
    python benchmarks/randlora_speed.py --sizes 8x64 --steps 5 --dtype bf16-mixed

Targets, checked and printed at the end:
  minilm (issue 5): at 32x128 poc RandLoRA's step time <= 0.65x peft's; at every size never
    slower than peft's (paired median <= 1.00x) and peak memory <= peft's.
  llama-like (issue 16): at 2,048 tokens per step poc RandLoRA's step time <= 0.75x peft's; at
    every size never slower than peft's and peak memory <= peft's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch
from torch import nn

from poc_cli.hardware import Precision, precision_for, weights_options
from poc_cli.methods import get_method
from poc_cli.modelhub import Architecture, describe, load_config, resolve_model
from poc_cli.recipe import DataSpec, TrainingSpec
from poc_cli.methods.full import FullSpec
from poc_cli.methods.lora import LoraSpec
from poc_cli.methods.randlora import RandLoraSpec
from poc_cli.tasks.base import Task
from poc_cli.tasks.causal_lm import CausalLM
from poc_cli.tasks.text_classification import TextClassification
from poc_cli.trackers.peak import release_heap
from poc_cli.train import Step

warnings.filterwarnings("ignore")
CONTENDERS = ("lora", "randlora-peft", "randlora-poc", "full")
DATA = DataSpec(train="unused", test_fraction=0.5)


@dataclass(frozen=True)
class Bench:
    """One model to time: how to build it, its LoRA rank, default sizes and the targets it is held to."""

    task: Task
    load: Callable[[Precision, torch.device, bool], nn.Module]  # (precision, device, frozen_base)
    lora_rank: int
    sizes: str
    vocabulary: tuple[int, int]  # token ids drawn from [low, high)
    fast_at: int  # tokens per step where poc must be at most `fast_ratio` x peft's time
    fast_ratio: float


def _weights(precision: Precision, device: torch.device, frozen_base: bool) -> dict:
    return weights_options(TrainingSpec(precision=precision.name), precision, device, frozen_base=frozen_base)


def load_minilm(precision: Precision, device: torch.device, frozen_base: bool) -> nn.Module:
    """The packaged MiniLM with an 8-class head (seeded), its weights loaded as `poc run` loads them."""
    source = resolve_model("builtin:all-MiniLM-L6-v2")
    config = load_config(MINILM.task, source, tuple(str(i) for i in range(8)), field_value="builtin")
    torch.manual_seed(0)
    return MINILM.task.load_model(source, config, **_weights(precision, device, frozen_base))


def load_llama_like(precision: Precision, device: torch.device, frozen_base: bool) -> nn.Module:
    """A random Llama at an LLM's layer shapes (no pretrained Llama is available offline; speed and
    memory depend on the shapes, not on the weights), in the dtype `poc run` would load it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=1024, intermediate_size=2816, num_hidden_layers=4, num_attention_heads=16,
                         num_key_value_heads=16, vocab_size=2048, max_position_embeddings=2048,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    return model.to(_weights(precision, device, frozen_base).get("dtype", torch.float32))


MINILM = Bench(TextClassification(DATA), load_minilm, lora_rank=8, sizes="8x64,32x128,64x256",
               vocabulary=(1000, 20000), fast_at=32 * 128, fast_ratio=0.65)
LLAMA_LIKE = Bench(CausalLM(DATA), load_llama_like, lora_rank=16, sizes="1x512,1x2048,4x512",
                   vocabulary=(0, 2048), fast_at=2048, fast_ratio=0.75)
BENCHES = {"minilm": MINILM, "llama-like": LLAMA_LIKE}


def randlora_rank(arch: Architecture, lora_rank: int) -> int:
    """RandLoRA's r at LoRA's budget, as `poc plan` fits it."""
    return get_method("randlora").fit(arch, get_method("lora").count(arch, lora_rank))


def build(name: str, bench: Bench, device: torch.device, precision: Precision) -> nn.Module:
    # As poc run loads it: a frozen base in the compute dtype, fp32 master weights where everything trains.
    model = bench.load(precision, device, get_method(name.split("-")[0]).FROZEN_BASE)
    arch = describe(model, None, bench.task)
    if name == "lora":
        model = get_method("lora").apply(model, spec=LoraSpec(method="lora"), r=bench.lora_rank, arch=arch, seed=0)
    elif name.startswith("randlora"):
        spec = RandLoraSpec(method="randlora", alpha_ratio=2, implementation=name.split("-")[1])
        model = get_method("randlora").apply(model, spec=spec, r=randlora_rank(arch, bench.lora_rank), arch=arch,
                                             seed=0)
    else:
        model = get_method("full").apply(model, spec=FullSpec(method="full"), r=None, arch=arch, seed=0)
    return model.to(device=device).train()


def rotated(names: tuple[str, ...], round_: int) -> tuple[str, ...]:
    """The contenders' order in a round, rotated by one each round: a contender that runs right
    after another pays for what that one left behind (freed heap, evicted caches); rotating
    spreads that over all of them."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def make_step(model: nn.Module, bench: Bench, batch: int, seq: int, device: torch.device,
              precision: Precision) -> Callable[[], None]:
    train_step = Step(model, task=bench.task, training=TrainingSpec(), lr=1e-5, steps=100_000, precision=precision)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(*bench.vocabulary, (batch, seq), generator=generator).to(device)
    # A classifier's labels are classes; a causal LM learns every token of the sequence.
    labels = ids.clone() if isinstance(bench.task, CausalLM) else torch.randint(0, 8, (batch,), generator=generator)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels.to(device)}

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


def ratios(times: dict[str, list[float]], over: str, under: str) -> list[float]:
    """Per-round ratios over/under (paired: both ran in the same round)."""
    return [a / b for a, b in zip(times[over], times[under])]


def paired(times: dict[str, list[float]], over: str, under: str) -> str:
    """Median of the per-round ratios over/under, with their quartiles."""
    values = ratios(times, over, under)
    low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{statistics.median(values):.2f}x ({low:.2f}-{high:.2f})"


def verdicts(bench: Bench, size: tuple[int, int], time_ratio: float, memory_ratio: float) -> list[tuple[str, bool]]:
    """The targets one size is held to, each with whether it was met."""
    batch, seq = size
    out = [(f"{batch}x{seq}: poc RandLoRA never slower than peft's (time {time_ratio:.2f}x <= 1.00x)",
            time_ratio <= 1.0),
           (f"{batch}x{seq}: poc RandLoRA peak memory <= peft's ({memory_ratio:.2f}x <= 1.00x)", memory_ratio <= 1.0)]
    if batch * seq == bench.fast_at:
        out.append((f"{batch}x{seq}: poc RandLoRA time {time_ratio:.2f}x <= {bench.fast_ratio:.2f}x peft's",
                    time_ratio <= bench.fast_ratio))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(BENCHES), default="minilm")
    parser.add_argument("--sizes", help="batch x sequence, comma separated (default: the model's)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per contender (after 1 warm-up)")
    parser.add_argument("--dtype", choices=["fp32", "bf16-mixed", "fp16-mixed", "bf16"], default="fp32",
                        help="a recipe's training.precision")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    bench = BENCHES[args.model]
    device = torch.device(args.device)
    precision = precision_for(TrainingSpec(precision=args.dtype), device)
    models = {name: build(name, bench, device, precision) for name in CONTENDERS}
    adapters = {name: sum(p.numel() for n, p in models[name].named_parameters()
                          if p.requires_grad and ("lora_" in n or "randlora_" in n)) for name in CONTENDERS[:3]}
    print(f"model {args.model}, device {device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}, "
          f"{args.steps} timed steps after 1 warm-up; median step time, peak memory of two steps")
    print(f"adapter parameters: LoRA r={bench.lora_rank} {adapters['lora']:,}, RandLoRA "
          f"r={models['randlora-poc'].peft_config['default'].r} "
          f"{adapters['randlora-poc']:,}")
    checks: list[tuple[str, bool]] = []
    for size in (args.sizes or bench.sizes).split(","):
        batch, seq = (int(v) for v in size.lower().split("x"))
        steps = {name: make_step(model, bench, batch, seq, device, precision) for name, model in models.items()}
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
        memory_ratio = memory["randlora-poc"] / memory["randlora-peft"]
        print(f"  poc/peft RandLoRA time {paired(times, 'randlora-poc', 'randlora-peft')}   "
              f"poc RandLoRA/full time {paired(times, 'randlora-poc', 'full')}   "
              f"poc RandLoRA/LoRA time {paired(times, 'randlora-poc', 'lora')}   "
              f"poc/peft RandLoRA memory {memory_ratio:.2f}x")
        time_ratio = statistics.median(ratios(times, "randlora-poc", "randlora-peft"))
        checks += verdicts(bench, (batch, seq), time_ratio, memory_ratio)
    print("\ntargets")
    for text, met in checks:
        print(f"  {'met   ' if met else 'MISSED'} {text}")
    if not all(met for _, met in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
