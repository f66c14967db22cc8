"""What a trained job's model costs to serve, measured in the job after training (issue 43).

A training run is paid once, inference every day, and the methods differ there: an adapter that
merges into its base serves as fast as full fine-tuning but as one full model per task; kept beside
one shared base it serves many tasks from one model at the unmerged layers' latency; and the common
multi-adapter servers take LoRA adapters only. So, on the test split and with the task's own
`predict` (what a request really runs, a generation included): latency at batch 1 (the median of the
requests timed) and throughput at the evaluation batch, each after an untimed first call, unmerged and
merged; whether merging is exact
(the merged outputs against the unmerged ones on one test batch); the tensors in memory; the adapter
on disk (RandLoRA and VeRA also with the frozen bases peft's default save writes); and the adapter
converted to LoRA (`lora_conversion.py`). The merged figures of full fine-tuning and of an untrained
reference are those of the model itself.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from poc_cli.dtypes import dtype_name
from poc_cli.lora_conversion import conversion
from poc_cli.records.serving import MergeCheck, Serving, Speed
from poc_cli.tasks import Task

# How long each figure is measured: batch-1 requests and evaluation batches are timed until the count or the
# seconds run out, whichever first, and never fewer than the least (timeit's autorange, bounded: a small
# classifier gets ten requests, a language model generating its answers three).
REQUESTS = (3, 10, 2.0)  # least, most, seconds
BATCHES = (1, 3, 3.0)
TOLERANCE = 1e-4  # largest output difference, relative to the largest output, that still counts as exact
ANSWER_KEYS = ("y_pred", "generated", "chosen")  # a task's answers, where it has answers to compare


class _Prefix:
    """The first batches of a loader, each one's start time noted, until `most` were given or `seconds` passed
    (at least `least`); its other attributes (a task's `predict` reads `dataset` and `collate_fn`) are the
    loader's."""

    def __init__(self, loader: Any, bounds: tuple[int, int, float], marks: list[float]) -> None:
        self._loader, self._bounds, self._marks = loader, bounds, marks

    def __iter__(self) -> Iterator[Any]:
        least, most, seconds = self._bounds
        for k, batch in enumerate(itertools.islice(self._loader, most)):
            now = time.perf_counter()
            if k >= least and now - self._marks[0] >= seconds:
                return
            self._marks.append(now)
            yield batch

    def __len__(self) -> int:
        return min(self._bounds[1], len(self._loader))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run(task: Task, model: nn.Module, loader: Any, bounds: tuple[int, int, float],
         device: torch.device) -> tuple[list[float], dict]:
    """The seconds each batch took through `task.predict` (as many as `bounds` allow), and its predictions."""
    marks: list[float] = []
    predictions = task.predict(model, _Prefix(loader, bounds, marks), device=device)
    _sync(device)
    marks.append(time.perf_counter())
    return [b - a for a, b in itertools.pairwise(marks)], predictions


def _float_tensors(output: Any) -> list[torch.Tensor]:
    """Every floating tensor in a model's output (a tensor, a ModelOutput, nested tuples)."""
    if isinstance(output, torch.Tensor):
        return [output.detach().float().cpu().flatten()] if output.is_floating_point() else []
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _float_tensors(item)]
    return []


def _speed_and_outputs(task: Task, model: nn.Module, loaders: tuple[Any, Any],
                       device: torch.device) -> tuple[Speed, list[torch.Tensor], dict]:
    """Latency and throughput; the first call of the evaluation batch (untimed) gives the outputs of the
    model's first forward and the batch's predictions, which the merge check compares."""
    one, batch = loaders
    outputs: list[torch.Tensor] = []
    hook = model.register_forward_hook(lambda _m, _a, out: None if outputs else outputs.extend(_float_tensors(out)))
    try:
        _, first = _run(task, model, batch, (1, 1, 0.0), device)
    finally:
        hook.remove()
    _run(task, model, one, (1, 1, 0.0), device)  # batch 1's shapes once, untimed
    latencies, _ = _run(task, model, one, REQUESTS, device)
    seconds, _ = _run(task, model, batch, BATCHES, device)
    examples = sum(task.examples(b) for b in itertools.islice(batch, len(seconds)))
    return (Speed(latency_ms=1000 * statistics.median(latencies), throughput_per_s=examples / sum(seconds),
                  requests=len(latencies), batches=len(seconds)), outputs, first)


def _answers(predictions: dict) -> list[Any]:
    return next((list(predictions[k]) for k in ANSWER_KEYS if k in predictions), [])


def _compare(unmerged: tuple[list[torch.Tensor], dict], merged: tuple[list[torch.Tensor], dict],
             dtype: str) -> MergeCheck:
    """Exact where the merged outputs lie within `TOLERANCE` of the unmerged ones, relative to the largest."""
    before, after = torch.cat(unmerged[0]) if unmerged[0] else None, torch.cat(merged[0]) if merged[0] else None
    a, b = _answers(unmerged[1]), _answers(merged[1])
    changed = sum(x != y for x, y in zip(a, b)) if a else None
    if before is None or after is None or before.shape != after.shape:
        return MergeCheck(status="inexact", merged_dtype=dtype, answers_changed=changed, answers_compared=len(a) or None,
                          reason="the model's outputs could not be compared (no tensor output of the same shape)")
    scale = before.abs().max().item() or 1.0
    relative = (after - before).abs().max().item() / scale
    return MergeCheck(status="exact" if relative <= TOLERANCE else "inexact", max_relative_difference=relative,
                      tolerance=TOLERANCE, answers_changed=changed, answers_compared=len(a) or None,
                      merged_dtype=dtype,
                      reason=None if relative <= TOLERANCE else f"merged into {dtype} weights, the outputs move by "
                                                               f"up to {relative:.1e} of the largest")


def _tuner_layers(model: nn.Module) -> list[nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer
    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def _tensors(module: nn.Module) -> dict[int, int]:
    """Each distinct tensor's bytes, by storage (RandLoRA's shared bases count once)."""
    out: dict[int, int] = {}
    for t in itertools.chain(module.parameters(), module.buffers()):
        out[t.untyped_storage().data_ptr()] = t.numel() * t.element_size()
    return out


def _memory(model: nn.Module) -> tuple[float, float | None]:
    """(MiB of the model served merged: the base and the trained head; MiB of what each further task adds
    served unmerged: its adapter's tensors, RandLoRA's and VeRA's bases included, and its own head). The
    second is None where there is no adapter."""
    from peft.utils.other import ModulesToSaveWrapper
    everything = _tensors(model)
    own: dict[int, int] = {}
    for layer in _tuner_layers(model):
        base = _tensors(layer.get_base_layer())
        own |= {k: v for k, v in _tensors(layer).items() if k not in base}
    if not own:
        return sum(everything.values()) / 2**20, None
    heads: dict[int, int] = {}
    originals: dict[int, int] = {}
    for wrapper in (m for m in model.modules() if isinstance(m, ModulesToSaveWrapper)):
        originals |= _tensors(wrapper.original_module)
        heads |= _tensors(wrapper.modules_to_save)
    merged = sum(v for k, v in everything.items() if k not in own and k not in originals)
    return merged / 2**20, sum((own | heads).values()) / 2**20


def _merged_dtype(model: nn.Module) -> str:
    layers = _tuner_layers(model)
    weight = getattr(layers[0].get_base_layer(), "weight", None) if layers else None
    return dtype_name(weight.dtype) if weight is not None else "unknown"


def _with_bases(model: nn.Module, adapter_bytes: int | None) -> tuple[int | None, bool | None]:
    """(bytes of the adapter with its frozen random bases, whether peft's default save writes them) for the
    tuners that can leave them out (RandLoRA, VeRA: `save_projection`); (None, None) for the rest. poc saves
    without them (regenerated from the key); peft's default writes one copy of each shared basis (peft
    0.22), so the figure is the saved adapter plus those bases written as safetensors."""
    from peft.tuners._buffer_dict import BufferDict
    from safetensors.torch import save_file

    config = getattr(model, "peft_config", {}).get("default")
    if config is None or not hasattr(config, "save_projection") or adapter_bytes is None:
        return None, None
    default = bool(type(config).__dataclass_fields__["save_projection"].default)
    if config.save_projection:
        return adapter_bytes, default
    bases = {f"base_model.{name}.{key}": tensor.detach().cpu().contiguous()
             for name, child in model.base_model.named_children() if isinstance(child, BufferDict)
             for key, tensor in child.items()}
    with tempfile.TemporaryDirectory() as tmp:
        save_file(bases, Path(tmp) / "bases.safetensors")
        return adapter_bytes + (Path(tmp) / "bases.safetensors").stat().st_size, default


@contextmanager
def _unwrapped(model: nn.Module) -> Iterator[None]:
    """The merged model as it is deployed (peft's `merge_and_unload`), for as long as the block runs: each
    adapted layer's place taken by its base layer, which holds the merged weight, so no adapter wrapper's
    forward is timed; put back after (the adapter is then unmerged and converted)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    swaps = []
    for name, module in model.named_modules():
        if isinstance(module, BaseTunerLayer) and name:
            parent_name, _, attr = name.rpartition(".")
            swaps.append((model.get_submodule(parent_name), attr, module))
    for parent, attr, module in swaps:
        setattr(parent, attr, module.get_base_layer())
    try:
        yield
    finally:
        for parent, attr, module in swaps:
            setattr(parent, attr, module)


def _merge(model: nn.Module) -> str | None:
    """Merge the adapter into its base; the reason where peft cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.merge_adapter()
    except Exception as error:  # noqa: BLE001  (peft raises TypeError, ValueError, NotImplementedError ...)
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}" if str(error) else type(error).__name__
    return None


def measure(task: Task, model: nn.Module, *, dataset: Any, processor: Any, batch_size: int, device: torch.device,
            autocast: Any, adapter_bytes: int | None, budget: int | None, score: tuple[str, float | None],
            labels: tuple[str, ...]) -> Serving:
    """The job's `serving` section; the model is left unloaded (its adapter taken off) where it was converted."""
    loaders = (task.loader(dataset, processor, batch_size=1, shuffle=False, seed=0),
               task.loader(dataset, processor, batch_size=batch_size, shuffle=False, seed=0))
    adapted = hasattr(model, "merge_adapter") and bool(_tuner_layers(model))
    weights_mib, adapter_mib = _memory(model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad(), autocast():
        first = _speed_and_outputs(task, model, loaders, device)
    base = dict(device=str(device), batch_size=batch_size,
                weights_mib=weights_mib, adapter_mib=adapter_mib, adapter_bytes=adapter_bytes)
    if not adapted:
        return Serving(**base, merged=first[0], merge=MergeCheck(status="nothing to merge"),
                       peak_allocated_mib=_peak(device))
    dtype = _merged_dtype(model)
    reason = _merge(model)
    if reason is not None:
        merged, check = None, MergeCheck(status="cannot merge", merged_dtype=dtype, reason=reason)
    else:
        with torch.no_grad(), autocast(), _unwrapped(model):
            second = _speed_and_outputs(task, model, loaders, device)
        model.unmerge_adapter()
        merged, check = second[0], _compare(first[1:], second[1:], dtype)
    with_bases, default = _with_bases(model, adapter_bytes)
    lora = conversion(task, model, dataset=dataset, processor=processor, batch_size=batch_size, device=device,
                      autocast=autocast, budget=budget, score=score, labels=labels)
    return Serving(**base, merged=merged, unmerged=first[0], merge=check, peak_allocated_mib=_peak(device),
                   adapter_bytes_with_bases=with_bases, default_saves_bases=default, lora=lora)


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
