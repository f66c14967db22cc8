"""peft's own count of a tuner's trainable parameters at one knob value, as fast as it can be had.

A count is measured, never written down: the tuner's config is applied to a copy of the model's
skeleton and peft counts what it marks trainable, so it is peft's count by construction. The
skeleton lives on the meta device (no weights); tuners that read weight values while they build
(SHiRA's masks need `torch.nonzero`, AdaMSS and FRoD decompose the weights) cannot be built there,
so for them only the targeted layers are materialised on the CPU with random weights, which gives
the same count (shapes decide it, not values), and the plan says so.

Counts are kept on disk by model architecture, tuner, options, knob value and peft version, so a
second `poc plan` of the same recipe counts nothing (FourierFT on Llama-3.2-1B takes about 30 s a
count). The cache is only an accelerator: a damaged, unreadable or unwritable one is ignored.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poc_cli.peft_configs import build, refused

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture
    from poc_cli.methods.peft_tuner import PeftSpec

# Materialising more than this of the targeted layers for a count is refused (it is host memory).
MATERIALISED_LIMIT_BYTES = 8 * 2**30
ON_META = "meta"
ON_CPU = "cpu"  # the targeted layers materialised with random weights
CAUGHT = (TypeError, ValueError, RuntimeError, AssertionError, KeyError, AttributeError, NotImplementedError)


class Refused(ValueError):
    """peft refused the tuner at one knob value: its message, as `peft_configs.refused` words it."""


@dataclass(frozen=True)
class Counted:
    """A count and where it was made (`meta`, or `cpu` where peft cannot build the tuner on meta)."""

    trainable: int
    on: str


def cache_folder() -> Path:
    """Where counts are kept: `$XDG_CACHE_HOME/poc/counts`, else `~/.cache/poc/counts`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "poc" / "counts"


_fingerprints: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()  # per skeleton object
_memory: dict[str, dict[str, Any]] = {}  # cache file name -> its entries, as read or measured in this process


def fingerprint(arch: Architecture) -> str:
    """The architecture as far as a count depends on it: every module and parameter shape and dtype, and
    the targeted layers."""
    assert arch.skeleton is not None, "the model's skeleton is needed to count a peft tuner"
    targets = [layer.name for layer in arch.layers]
    if arch.skeleton not in _fingerprints:
        shapes = [(name, list(p.shape), str(p.dtype)) for name, p in arch.skeleton.named_parameters()]
        _fingerprints[arch.skeleton] = hashlib.sha256(json.dumps([repr(arch.skeleton), shapes]).encode()).hexdigest()
    return hashlib.sha256((_fingerprints[arch.skeleton] + json.dumps(targets)).encode()).hexdigest()


def _file_name(arch: Architecture, spec: PeftSpec) -> str:
    import peft

    tuner = json.dumps([peft.__version__, spec.config, spec.knob, spec.options], sort_keys=True, default=str)
    return hashlib.sha256((fingerprint(arch) + tuner).encode()).hexdigest()[:32] + ".json"


def _entries(name: str) -> dict[str, Any]:
    """The cache file's entries (value -> count, where, or refusal); empty where absent or damaged."""
    if name not in _memory:
        found: dict[str, Any] = {}
        try:
            read = json.loads((cache_folder() / name).read_text(encoding="utf-8"))
            if isinstance(read, dict):
                found = {k: v for k, v in read.items() if _well_formed(v)}
        except (OSError, ValueError):
            pass
        _memory[name] = found
    return _memory[name]


def _well_formed(entry: Any) -> bool:
    return isinstance(entry, dict) and (
        (type(entry.get("trainable")) is int and entry["trainable"] >= 0 and entry.get("on") in (ON_META, ON_CPU))
        or isinstance(entry.get("refused"), str))


def _keep(name: str) -> None:
    """Write the entries back; a cache that cannot be written (read-only home, full disk) is skipped."""
    from poc_cli.store import write_atomic

    try:
        write_atomic(cache_folder() / name, json.dumps(_memory[name], sort_keys=True).encode())
    except OSError:
        pass


def count(arch: Architecture, spec: PeftSpec, value: int | None) -> Counted:
    """peft's count of the tuner with its knob at `value` (None: its default); Refused with peft's reason."""
    name = _file_name(arch, spec)
    entries = _entries(name)
    key = json.dumps(value)
    if key not in entries:
        try:
            counted = _measure(arch, spec, value)
            entries[key] = {"trainable": counted.trainable, "on": counted.on}
        except Refused as refusal:
            entries[key] = {"refused": str(refusal)}
        except CAUGHT as error:
            entries[key] = {"refused": refused(spec.config, spec.knob, value, error)}
        _keep(name)
    entry = entries[key]
    if "refused" in entry:
        raise Refused(entry["refused"])
    return Counted(entry["trainable"], entry["on"])


def _measure(arch: Architecture, spec: PeftSpec, value: int | None) -> Counted:
    """Count on the meta skeleton; where peft needs weight values, on the targeted layers materialised."""
    targets = [layer.name for layer in arch.layers]
    assert arch.skeleton is not None
    try:
        return Counted(_wrapped_count(copy.deepcopy(arch.skeleton), spec, value, targets), ON_META)
    except (NotImplementedError, RuntimeError) as error:
        if "meta" not in str(error) and not isinstance(error, NotImplementedError):
            raise
    return Counted(_wrapped_count(_materialised(arch, spec, targets), spec, value, targets), ON_CPU)


def _materialised(arch: Architecture, spec: PeftSpec, targets: list[str]) -> nn.Module:
    """A copy of the skeleton whose targeted layers hold random weights on the CPU (the rest stays on meta)."""
    import torch

    assert arch.skeleton is not None
    model = copy.deepcopy(arch.skeleton)
    chosen = set(targets)
    layers = [module for name, module in model.named_modules() if name in chosen]
    size = sum(p.numel() * p.element_size() for module in layers for p in module.parameters(recurse=False))
    if size > MATERIALISED_LIMIT_BYTES:
        raise Refused(f"{spec.config}: peft cannot build it on the meta device, and counting it on the targeted "
                      f"layers needs {size / 2**30:.1f} GiB of memory, over poc's "
                      f"{MATERIALISED_LIMIT_BYTES / 2**30:.0f} GiB limit for a count")
    generator = torch.Generator().manual_seed(0)
    for module in layers:
        module.to_empty(device="cpu", recurse=False)
        with torch.no_grad():
            for parameter in module.parameters(recurse=False):
                parameter.normal_(0.0, 0.02, generator=generator)
    return model


def _wrapped_count(model: nn.Module, spec: PeftSpec, value: int | None, targets: list[str]) -> int:
    """What peft counts as trainable once the tuner wraps `model` (the head left out)."""
    from peft import get_peft_model

    config = build(spec.config, spec.knob, value, spec.options, targets=targets, head=())
    quiet = logging.getLogger("peft")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wrapped = get_peft_model(model, config, low_cpu_mem_usage=True)
    finally:
        quiet.setLevel(level)
    return int(wrapped.get_nb_trainable_parameters()[0])
