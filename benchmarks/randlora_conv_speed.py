"""Step time on a convolutional network: LoRA, poc's RandLoRA convolution, full fine-tuning (issue 40).

The packaged EfficientNet-Lite0 (`builtin:efficientnet-lite0`, its 33 ungrouped convolutions
targeted) with a 2-class head, at the inspection demo's budget (LoRA r=7; RandLoRA r=4, fitted
by poc), as `poc run` builds it (BatchNorm frozen under the PEFT methods). The three contenders
run side by side in one process, poc's own training step (forward, backward, AdamW), on random
images of `--size` pixels, interleaved round-robin in an order rotated every round; each ratio
is the median of the per-round ratios, with their quartiles.

    python benchmarks/randlora_conv_speed.py                   # batch 32 at 128 px, 8 rounds
    python benchmarks/randlora_conv_speed.py --batch 16 --size 224 --rounds 5

Target, checked and printed at the end: poc's RandLoRA convolution builds its kernel-sized update
once a step and convolves once with W + s Delta W, where LoRA's branch is two more convolutions
over every position, so its step time is at most LoRA's (paired median ratio <= 1.00x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch
from randlora_speed import rotated

from poc_cli.hardware import precision_for
from poc_cli.methods import get_method
from poc_cli.modelhub import describe, load_config, resolve_model
from poc_cli.normalisation import batchnorm_policy
from poc_cli.recipe import DataSpec, TrainingSpec
from poc_cli.tasks.image_classification import ImageClassification
from poc_cli.train import Step

warnings.filterwarnings("ignore")
CONTENDERS = ("lora", "randlora", "full")
TARGET = 1.00  # RandLoRA-conv's step time over LoRA-conv's, at most


def build(name: str, task: ImageClassification, source: str) -> torch.nn.Module:
    """Lite0 with the method applied as `poc run` applies it, at the demo's budget (LoRA r=7)."""
    model = task.load_model(source, load_config(task, source, ("defect", "ok"), field_value=source))
    arch = describe(model, None, task)
    module = get_method(name)
    r = None if name == "full" else module.fit(arch, get_method("lora").count(arch, 7))
    model = module.apply(model, spec=module.SPEC(method=name), r=r, arch=arch, seed=0)
    batchnorm_policy(model, frozen_base=module.FROZEN_BASE)
    return model.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    task = ImageClassification(DataSpec(train="unused", test="unused"))
    source = resolve_model("builtin:efficientnet-lite0")
    precision = precision_for(TrainingSpec(precision="fp32"), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    batch = {"pixel_values": torch.randn(args.batch, 3, args.size, args.size, generator=generator),
             "labels": torch.randint(0, 2, (args.batch,), generator=generator)}
    steps = {}
    for name in CONTENDERS:
        step = Step(build(name, task, source), task=task, training=TrainingSpec(), lr=1e-4, steps=100_000,
                    precision=precision)
        step([batch])  # the first step carries one-off costs (allocations, optimizer state)
        steps[name] = step
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for round_ in range(args.rounds):
        for name in rotated(CONTENDERS, round_):
            start = time.perf_counter()
            steps[name]([batch])
            times[name].append(time.perf_counter() - start)
    print(f"EfficientNet-Lite0, batch {args.batch} at {args.size} px, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    for name in CONTENDERS:
        print(f"  {name:<9} median step {statistics.median(times[name]):.3f} s")
    ratios = sorted(r / lo for r, lo in zip(times["randlora"], times["lora"]))
    quartiles = statistics.quantiles(ratios, n=4)
    median = statistics.median(ratios)
    full = statistics.median(f / lo for f, lo in zip(times["full"], times["lora"]))
    print(f"  randlora / lora: {median:.2f}x (quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}); "
          f"full / lora: {full:.2f}x")
    met = median <= TARGET
    print(f"target: RandLoRA-conv step <= {TARGET:.2f}x LoRA-conv's: {'met' if met else 'NOT met'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
