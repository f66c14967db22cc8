"""RandLoRA (peft `RandLoraConfig`): trained diagonal scalings of shared frozen random bases.

For a layer with m = min(in, out) and base rank r there are n = ceil(m / r) bases and
n * (r + m) trainable parameters (lambda: r x n, gamma: n x m). A larger r gives fewer
parameters; the update is full rank whatever r is.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from poc_cli.specs import AlphaGrid, AlphaRatio, MethodSpecBase, Number, Rank, Seed

if TYPE_CHECKING:
    from torch import nn

    from poc_cli.modelhub import Architecture


class RandLoraSpec(MethodSpecBase):
    """RandLoRA's recipe entry: base rank `r` fitted to the budget unless given; randlora_alpha =
    alpha_ratio * r.

    `projection_prng_key` fixes the random bases; left empty they follow the job's seed,
    so seed-to-seed spread includes the choice of bases. `implementation: poc` (default)
    runs poc's faster forward and backward of the same function; `peft` runs peft's own.
    """

    # From the learning-rate trials in docs/measurements.md. The grid also tries both ends of its
    # author's alpha range (2r and 20r), which shifts its best lr ~10x.
    DEFAULT_LR: ClassVar[float] = 5e-4
    GRID: ClassVar[dict[str, tuple[float, ...]]] = {"lr": (2e-4, 5e-4, 1e-3, 2e-3), "alpha_ratio": (2.0, 20.0)}

    method: Literal["randlora"]
    r: Rank | None = None
    alpha_ratio: AlphaRatio = 20.0
    sparse: bool = False
    very_sparse: bool = False
    dropout: Number = Field(default=0.0, ge=0, lt=1)
    projection_prng_key: Seed | None = None
    implementation: Literal["poc", "peft"] = "poc"
    search: AlphaGrid | Literal[False] | None = None

    @model_validator(mode="after")
    def _one_sparsity(self) -> RandLoraSpec:
        if self.sparse and self.very_sparse:
            raise ValueError("choose at most one of 'sparse' and 'very_sparse'")
        return self


SPEC = RandLoraSpec
# Its bases: peft's dense Gaussian ones, or sparse ones (`sparse`: 2/3 zeros; `very_sparse`: more).
BASES = {"dense": {"sparse": False, "very_sparse": False}, "sparse": {"sparse": True, "very_sparse": False},
         "very sparse": {"sparse": False, "very_sparse": True}}

FITTED = True
TRAINS = True
FROZEN_BASE = True
QUANTIZABLE = True  # as LoRA: QRandLoRA on a 4- or 8-bit base
SAVES = "adapter"
COLOUR = "#d62728"  # in every chart


def n_bases(min_dim: int, r: int) -> int:
    """Bases of rank r a layer needs for a full-rank update (peft's `num_bases`)."""
    return math.ceil(min_dim / r)


def count(arch: Architecture, r: int, spec: RandLoraSpec | None = None) -> int:
    """Adapter parameters of RandLoRA at base rank r."""
    del spec
    return sum(n_bases(layer.min_dim, r) * (r + layer.min_dim) for layer in arch.layers)


def fit(arch: Architecture, target: int, spec: RandLoraSpec | None = None) -> int:
    """The base rank whose count is closest to `target` (ties go to the larger r, fewer bases)."""
    del spec
    largest = max(layer.min_dim for layer in arch.layers)
    return min(range(1, largest + 1), key=lambda r: (abs(count(arch, r) - target), -r))


def settings(spec: RandLoraSpec, r: int) -> dict[str, float | int | bool]:
    """The resolved configuration shown in plans and stored in records."""
    return {
        "r": r,
        "alpha": spec.alpha_ratio * r,
        "dropout": spec.dropout,
        "sparse": spec.sparse,
        "very_sparse": spec.very_sparse,
        "implementation": spec.implementation,
    }


def projection_key(spec: RandLoraSpec, seed: int) -> int:
    """The random bases follow the job's seed unless the recipe fixes the key."""
    return spec.projection_prng_key if spec.projection_prng_key is not None else seed


def apply(model: nn.Module, *, spec: RandLoraSpec, r: int, arch: Architecture, seed: int) -> nn.Module:
    """Wrap `model` with peft's RandLoRA on the targeted layers; the head trains fully.

    With `implementation: poc` the layers keep peft's tensors and keys but run poc's
    forward and backward (see randlora_fast).

    `save_projection=False`: peft's default writes the shared random bases once per layer
    (354 MB for a MiniLM adapter against 1.4 MB); they are regenerated from the key instead.
    """
    from peft import RandLoraConfig, get_peft_model  # 1.6 s to import: only in the job that trains

    from poc_cli.methods import randlora_conv  # noqa: F401  (puts poc's tuner, with convolutions, in peft's table)
    from poc_cli.methods.randlora_fast import accelerate

    with warnings.catch_warnings():  # peft warns about save_projection=False, chosen on purpose
        warnings.filterwarnings("ignore", message=".*basis_A and basis_B.*")
        config = RandLoraConfig(
            r=r,
            randlora_alpha=spec.alpha_ratio * r,
            randlora_dropout=spec.dropout,
            sparse=spec.sparse,
            very_sparse=spec.very_sparse,
            projection_prng_key=projection_key(spec, seed),
            save_projection=False,
            target_modules=[layer.name for layer in arch.layers],
            modules_to_save=list(arch.head_modules),
            fan_in_fan_out=all(layer.conv1d for layer in arch.layers),
        )
        peft_model = get_peft_model(model, config)
    if spec.implementation == "poc":
        accelerate(peft_model)
    _keep_input_dtype(peft_model)
    return peft_model


CAST_BACK = "output cast back to the input's dtype by poc"


def _cast_back(module: nn.Module, args: tuple[object, ...], output: object) -> object:
    """A forward hook: the layer's output in its input's dtype."""
    import torch

    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and isinstance(output, torch.Tensor) and output.dtype != x.dtype:
        return output.to(x.dtype)
    return output


def _keep_input_dtype(model: nn.Module) -> None:
    """peft's 4- and 8-bit RandLoRA layers (peft 0.21) return fp32 when autocast is off (`precision: bf16`):
    they cast their input to the fp32 bases and then return "in the input's dtype", the input by then being
    fp32. Everything after them would run in fp32, and QRandLoRA would look slower and heavier than QLoRA
    for a reason that is not the method's. Every RandLoRA layer poc does not compute itself gets its output
    cast back to its input's dtype (a no-op where peft already returns it)."""
    from peft.tuners.randlora.layer import RandLoraLayer

    for module in model.modules():
        if isinstance(module, RandLoraLayer) and not isinstance(module, _poc_layers()):
            module.register_forward_hook(_cast_back)
            module.poc_cast_back = True


def _poc_layers() -> tuple[type, ...]:
    """The RandLoRA layers poc computes itself: the fast Linear and Conv1D, and every convolution."""
    from poc_cli.methods.randlora_conv import RandLoraConv
    from poc_cli.methods.randlora_fast import FastRandLoraLinear

    return FastRandLoraLinear, RandLoraConv


def implementation(model: nn.Module) -> str:
    """Which code computes the RandLoRA layers of the built model: `implementation: poc` covers
    plain Linear and Conv1D layers, and convolutions are poc's whatever it says (peft has no RandLoRA
    convolution); peft's 4- and 8-bit layers keep peft's own (their output cast back to the input's
    dtype), and the record says so instead of repeating the recipe's switch."""
    from peft.tuners.randlora.layer import Linear, RandLoraLayer

    layers = [m for m in model.modules() if isinstance(m, RandLoraLayer)]
    ours = sum(isinstance(m, _poc_layers()) for m in layers)
    # peft's own plain layer already returns its input's dtype: the cast matters only on the others
    cast = sum(getattr(m, "poc_cast_back", False) and type(m) is not Linear for m in layers)
    if ours == len(layers):
        return "poc"
    if ours == 0:
        return f"peft ({CAST_BACK})" if cast else "peft"
    kinds = sorted({type(m).__name__ for m in layers if not isinstance(m, _poc_layers())})
    return (f"poc on {ours} of {len(layers)} layers, peft on the rest ({', '.join(kinds)}"
            + (f"; {CAST_BACK}" if cast else "") + ")")


def variants(spec: RandLoraSpec) -> list[tuple[str, RandLoraSpec]]:
    """What `poc profile` measures of it, the recipe's own bases first: each kind of bases, as time and
    memory differ between them while the count does not."""
    own = "very sparse" if spec.very_sparse else "sparse" if spec.sparse else "dense"
    return [(name, spec.model_copy(update=BASES[name])) for name in sorted(BASES, key=lambda b: b != own)]


def unsupported() -> str | None:
    """Why the installed peft cannot run it (None: it can): RandLoRA came with peft 0.16."""
    import peft

    return None if hasattr(peft, "RandLoraConfig") else f"peft {peft.__version__} has no RandLoraConfig (need >= 0.16)"
