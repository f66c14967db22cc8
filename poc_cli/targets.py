"""Which layers a PEFT method adapts: Linear layers, GPT-2's Conv1D, and convolutions.

By default a model's Linear layers are its targets, as PEFT methods are run on transformers
(a ViT's or CLIP's patch-embedding convolution stays frozen); a model with none outside its
head is convolutional (ResNet, EfficientNet, MobileNet, RegNet), and its convolutions are the
targets. `target_modules` may name convolutions in any model.

A convolution's update is a matrix over its flattened fan-in (out_channels x in_channels *
kernel area), as peft's LoRA builds it: its A is a convolution with the base layer's kernel
into r channels, its B a 1x1 convolution out of them, so r * (in * kh * kw + out) parameters.
A `Layer` therefore carries a convolution's fan-in as its `in_features`, and every count
written for Linear layers holds for it unchanged.

Grouped and depthwise convolutions (groups > 1) are left out: peft's LoRA adapts them only
where the rank is divisible by the groups and cannot merge them, and RandLoRA's update is
defined on a dense kernel; the plan says how many were left out and why. A subclass of a
convolution is left out too: peft builds an adapter's branch with the layer's own class, so a
subclass with another constructor fails there, and one that pads inside its forward (the
"same"-padding convolutions of TensorFlow ports) would give the branch the wrong input.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from torch import nn
from transformers.pytorch_utils import Conv1D

from poc_cli.errors import RecipeError

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)
CONVOLUTION_KINDS = frozenset(kind.__name__ for kind in CONVOLUTIONS)
LINEAR_KINDS = frozenset({"Linear", "Conv1D"})
GROUPED = "grouped or depthwise convolutions (groups > 1: peft's LoRA needs a rank divisible by the groups " \
          "and cannot merge them)"
SUBCLASS = "subclasses of a convolution (peft builds an adapter's branch with the layer's own class, whose " \
           "constructor or forward may differ)"


@dataclass(frozen=True)
class Layer:
    """A targetable layer: its full module name, its kind and its shape (a convolution's
    `in_features` is its fan-in, in_channels x kernel area)."""

    name: str
    in_features: int
    out_features: int
    conv1d: bool = False  # GPT-2's Conv1D (weight stored as in x out), not a convolution
    kind: str = "Linear"

    @property
    def min_dim(self) -> int:
        return min(self.in_features, self.out_features)


def as_layer(name: str, module: nn.Module) -> Layer | None:
    """The module as a target, or None where it is no layer kind poc adapts (or is left out)."""
    if isinstance(module, nn.Linear):
        return Layer(name, module.in_features, module.out_features)
    if isinstance(module, Conv1D):
        rows, cols = module.weight.shape
        return Layer(name, int(rows), int(cols), conv1d=True, kind="Conv1D")
    if type(module) in CONVOLUTIONS and module.groups == 1:
        fan_in = module.in_channels * math.prod(module.kernel_size)
        return Layer(name, fan_in, module.out_channels, kind=type(module).__name__)
    return None


def left_out_reason(module: nn.Module) -> str | None:
    """Why a convolution is not targeted (None: it is, or it is no convolution)."""
    if not isinstance(module, CONVOLUTIONS):
        return None
    if module.groups > 1:
        return GROUPED
    return SUBCLASS if type(module) not in CONVOLUTIONS else None


def convolutions(layers: tuple[Layer, ...]) -> int:
    """How many of the targets are convolutions."""
    return sum(layer.kind in CONVOLUTION_KINDS for layer in layers)


def by_kind(layers: tuple[Layer, ...]) -> dict[str, int]:
    """Targeted layers per kind, most first (`Conv2d: 52, Linear: 1`)."""
    return dict(Counter(layer.kind for layer in layers).most_common())


def find_layers(model: nn.Module, patterns: list[str] | None, head: tuple[str, ...],
                excluded: tuple[str, ...] = ()) -> tuple[tuple[Layer, ...], dict[str, int]]:
    """The layers a PEFT method adapts, and how many convolutions were left out, by reason.

    Default: every Linear (and GPT-2's Conv1D) outside the head and the task's exclusions (BERT's
    pooler), as PEFT methods are run on transformers; for CLIP that is both towers and their
    projections, not the patch embedding's convolution. A model with no such layer outside its
    head is convolutional (ResNet, EfficientNet, MobileNet): its ungrouped convolutions are the
    targets. A pattern matches a module whose full name equals it or ends with `.pattern`, as in
    peft, and may name convolutions in any model.

    A Linear owned by `nn.MultiheadAttention` (its `out_proj`, as in SigLIP's pooling head)
    is never called: the attention reads its weight directly, so an adapter there would be
    counted and never trained. It is left out of the defaults and refused by name.
    """
    bypassed = {f"{name}.{child}" if name else child for name, module in model.named_modules()
                if isinstance(module, nn.MultiheadAttention) for child, _ in module.named_children()}
    found, left_out = [], Counter()
    for name, module in model.named_modules():
        if any(name == h or name.startswith(h + ".") for h in head):
            continue
        named = patterns is not None and any(name == p or name.endswith("." + p) for p in patterns)
        if patterns is not None and not named:
            continue
        reason = left_out_reason(module)
        if reason is not None:
            if named:
                raise RecipeError(f"target_modules: {name} is one of the {reason}; leave it out")
            left_out[reason] += 1
            continue
        layer = as_layer(name, module)
        if layer is None:
            continue
        if name in bypassed:
            if named:
                raise RecipeError(f"target_modules: {name} belongs to an nn.MultiheadAttention, which never calls "
                                  "it: an adapter there would not train; leave it out")
            continue
        if patterns is None and any(part in excluded for part in name.split(".")):
            continue
        found.append(layer)
    if patterns is None and any(layer.kind in LINEAR_KINDS for layer in found):  # a transformer: Linear layers
        return tuple(layer for layer in found if layer.kind in LINEAR_KINDS), {}
    if not found:
        what = f"{patterns}" if patterns is not None else "the default (every Linear layer, else every convolution)"
        raise RecipeError(f"target_modules: {what} matches no layer poc can adapt; the model has "
                          f"{_kinds_present(model, head)}")
    for pattern in patterns or ():
        if not any(layer.name == pattern or layer.name.endswith("." + pattern) for layer in found):
            raise RecipeError(f"target_modules: {pattern!r} matches no Linear, Conv1D or convolution layer "
                              "of the model")
    return tuple(found), dict(left_out)


def _kinds_present(model: nn.Module, head: tuple[str, ...]) -> str:
    """The kinds of parameter-holding layers outside the head, most first, for an error."""
    kinds = Counter(type(module).__name__ for name, module in model.named_modules()
                    if not any(name == h or name.startswith(h + ".") for h in head)
                    and any(True for _ in module.parameters(recurse=False)))
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(6)) or "no layer with parameters"
