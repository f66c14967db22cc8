"""poc's RandLoRA computes the same function as peft's, with the same tensors and checkpoints."""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
import torch
from peft import PeftModel, RandLoraConfig, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2Model

from poc_cli.methods.randlora_fast import (
    FastRandLoraLinear,
    Path as Route,
    accelerate,
    choose_path,
    gradient_through_update,
)

pytestmark = pytest.mark.filterwarnings("ignore:Specified to not save basis_A")


class Shapes(nn.Module):
    """A square, a wide and a tall layer."""

    def __init__(self) -> None:
        super().__init__()
        self.square = nn.Linear(24, 24)
        self.wide = nn.Linear(24, 40)
        self.tall = nn.Linear(40, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tall(torch.tanh(self.wide(self.square(x))))


def pair(base: nn.Module, config: RandLoraConfig) -> tuple[nn.Module, nn.Module]:
    """(peft model, poc model) from the same base and config, with non-zero adapter weights."""
    reference = get_peft_model(copy.deepcopy(base), copy.deepcopy(config))
    fast = get_peft_model(copy.deepcopy(base), copy.deepcopy(config))
    assert accelerate(fast) > 0
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for (name, p), (name2, q) in zip(reference.named_parameters(), fast.named_parameters()):
            assert name == name2
            if p.requires_grad:
                value = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.dtype) * 0.1
                p.copy_(value)
                q.copy_(value)
    return reference, fast


def compare(reference: nn.Module, fast: nn.Module, x: torch.Tensor, *, rtol: float, atol: float) -> None:
    """Same outputs, same gradients of every trainable tensor (lambda and gamma)."""
    reference.train()
    fast.train()
    torch.manual_seed(11)
    y_ref = reference(x)
    torch.manual_seed(11)  # the same dropout masks
    y_fast = fast(x)
    y_ref = getattr(y_ref, "last_hidden_state", y_ref)
    y_fast = getattr(y_fast, "last_hidden_state", y_fast)
    torch.testing.assert_close(y_fast, y_ref, rtol=rtol, atol=atol)
    upstream = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(5)).to(y_ref.dtype)
    (y_ref * upstream).sum().backward()
    (y_fast * upstream).sum().backward()
    grads = 0
    for (name, p), (_, q) in zip(reference.named_parameters(), fast.named_parameters()):
        if p.requires_grad:
            assert q.grad is not None, name
            scale = p.grad.abs().max().item()
            torch.testing.assert_close(q.grad, p.grad, rtol=rtol, atol=atol * max(scale, 1.0), msg=name)
            grads += 1
    assert grads >= 2


@pytest.mark.parametrize("r", [3, 8, 30])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("bases", ["dense", "sparse", "very_sparse"])
def test_same_function_and_gradients_as_peft(r: int, dropout: float, bases: str) -> None:
    torch.manual_seed(0)
    config = RandLoraConfig(r=r, target_modules=["square", "wide", "tall"], randlora_dropout=dropout,
                            randlora_alpha=2 * r, save_projection=False, projection_prng_key=7,
                            sparse=bases == "sparse", very_sparse=bases == "very_sparse")
    reference, fast = pair(Shapes(), config)
    x = torch.randn(6, 9, 24)  # 54 tokens: the fused path on these layers
    assert choose_path(54, 24, 40, 24) is choose_path(54, 40, 24, 24) is Route.FUSED_KEEP
    assert gradient_through_update(54, 40, 24, 24)  # the basis' gradient through the whole update's
    compare(reference, fast, x, rtol=1e-5, atol=1e-5)


def test_factorised_path_is_taken_when_cheaper_and_still_equal() -> None:
    # A very wide layer and one token: building Delta W would cost more than peft's path.
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(512, 512))
    reference, fast = pair(base, RandLoraConfig(r=64, target_modules=["0"], save_projection=False))
    assert choose_path(1, 512, 512, 512) is Route.FACTORISED
    compare(reference, fast, torch.randn(1, 512), rtol=1e-5, atol=1e-5)


class Rectangular(nn.Module):
    """An LLM's MLP in miniature: up to four times the width and back."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(32, 128)
        self.down = nn.Linear(128, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.tanh(self.up(x)))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_rebuild_path_when_keeping_the_weight_would_cost_more_than_peft(dropout: float) -> None:
    # 64 tokens through a 32 x 128 layer, k = 32: W + Delta W (4,096) is more than peft keeps
    # (64 x 32 + 32 x 32 = 3,072), but building it is still cheaper than peft's two products.
    torch.manual_seed(0)
    config = RandLoraConfig(r=8, target_modules=["up", "down"], randlora_dropout=dropout, randlora_alpha=16,
                            save_projection=False)
    reference, fast = pair(Rectangular(), config)
    assert choose_path(64, 32, 128, 32) is choose_path(64, 128, 32, 32) is Route.FUSED_REBUILD
    assert not gradient_through_update(64, 128, 32, 32)  # ... through the tokens' projection here
    compare(reference, fast, torch.randn(4, 16, 32), rtol=1e-5, atol=1e-5)


def _kept_for_backward(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward after a forward (distinct storages), apart from the
    model's own parameters and buffers, which exist whatever the path."""
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    return sum(kept.values())


@pytest.mark.parametrize("tokens", [16, 64, 512])
def test_never_keeps_more_for_backward_than_peft(tokens: int) -> None:
    """The memory half of the path choice, measured on what autograd actually keeps: at few
    tokens keeping W + Delta W of a rectangular layer would exceed peft's projection and scaled
    basis, so poc rebuilds it (or takes peft's path) instead."""
    torch.manual_seed(0)
    config = RandLoraConfig(r=8, target_modules=["up", "down"], randlora_alpha=16, save_projection=False)
    reference, fast = pair(Rectangular(), config)
    x = torch.randn(1, tokens, 32)
    assert _kept_for_backward(fast, x) <= _kept_for_backward(reference, x)


def gpt2_pair() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(peft, poc) RandLoRA on a tiny GPT-2, whose Conv1D layers store their weights (in, out), and input ids."""
    torch.manual_seed(0)
    gpt2 = GPT2Model(GPT2Config(vocab_size=30, n_embd=32, n_layer=1, n_head=2, n_positions=16,
                                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    config = RandLoraConfig(r=4, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,
                            randlora_alpha=8, save_projection=False)
    reference, fast = pair(gpt2, config)
    return reference, fast, torch.randint(0, 30, (3, 12), generator=torch.Generator().manual_seed(1))


def test_conv1d_fan_in_fan_out() -> None:
    reference, fast, ids = gpt2_pair()
    assert sum(isinstance(m, FastRandLoraLinear) for m in fast.modules()) == 4  # c_attn, attn c_proj, c_fc, mlp c_proj
    compare(reference, fast, ids, rtol=1e-5, atol=1e-5)


def test_bf16() -> None:
    torch.manual_seed(0)
    base = Shapes().to(torch.bfloat16)
    config = RandLoraConfig(r=8, target_modules=["square", "wide", "tall"], randlora_alpha=16, save_projection=False)
    reference, fast = pair(base, config)
    x = torch.randn(4, 8, 24).to(torch.bfloat16)
    # poc adds Delta W to the weight before the matmul: rounding differs at bf16 precision.
    compare(reference, fast, x, rtol=2e-2, atol=2e-2)


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            return torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == dtype
    except RuntimeError:
        return False


def _errors(model: nn.Module, x: torch.Tensor, truth: dict[str, torch.Tensor] | None,
            context: AbstractContextManager[object]) -> dict[str, torch.Tensor | float]:
    """Output and gradients of a forward under `context` and a backward outside it; with `truth`
    (the same at fp32), their relative errors against it instead."""
    model.train()
    model.zero_grad()
    with context:
        torch.manual_seed(11)
        y = model(x)
    y = getattr(y, "last_hidden_state", y).float()
    (y * torch.randn(y.shape, generator=torch.Generator().manual_seed(5))).sum().backward()
    found: dict[str, torch.Tensor] = {"output": y.detach()}
    found |= {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    if truth is None:
        return found
    return {n: float((v - truth[n]).norm() / truth[n].norm()) for n, v in found.items()}


def assert_as_close_to_fp32_as_peft(reference: nn.Module, fast: nn.Module, x: torch.Tensor,
                                    dtype: torch.dtype) -> None:
    """Under autocast both implementations round half-precision products at different points, so
    neither equals the other: each is held to the fp32 result, poc's error at most 3x peft's
    (measured: 1-2x) and a few percent. A wrong gradient is off by far more."""
    truth = _errors(reference, x, None, nullcontext())
    peft_error = _errors(reference, x, truth, torch.autocast("cpu", dtype=dtype))
    poc_error = _errors(fast, x, truth, torch.autocast("cpu", dtype=dtype))
    assert len(poc_error) >= 3  # the output and at least one lambda and one gamma
    for name, error in poc_error.items():
        assert error <= 3 * peft_error[name] + 1e-3 and error < 0.05, (name, error, peft_error[name])
    assert all(p.grad.dtype == torch.float32 for p in fast.parameters() if p.requires_grad)


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    with torch.autocast("cpu", dtype=dtype):
        return torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("bases", ["dense", "sparse"])
def test_under_autocast_as_peft(dtype: torch.dtype, dropout: float, bases: str) -> None:
    """The standard mixed-precision loop (forward under autocast, backward outside it): poc's
    backward once mixed a half-precision gradient with the fp32 saved input and raised."""
    if not _cpu_autocast_supports(dtype):
        pytest.skip(f"this torch's CPU autocast does not compute in {dtype}")
    torch.manual_seed(0)
    config = RandLoraConfig(r=8, target_modules=["square", "wide", "tall"], randlora_dropout=dropout,
                            randlora_alpha=16, save_projection=False, sparse=bases == "sparse")
    reference, fast = pair(Shapes(), config)
    assert_as_close_to_fp32_as_peft(reference, fast, torch.randn(6, 9, 24), dtype)


def test_conv1d_under_autocast() -> None:
    reference, fast, ids = gpt2_pair()
    assert_as_close_to_fp32_as_peft(reference, fast, ids, torch.bfloat16)


def test_state_dict_keys_and_trainable_tensors_are_peft_s() -> None:
    config = RandLoraConfig(r=8, target_modules=["square", "wide", "tall"], save_projection=False)
    reference, fast = pair(Shapes(), config)
    assert list(reference.state_dict()) == list(fast.state_dict())
    assert [n for n, p in reference.named_parameters() if p.requires_grad] == \
        [n for n, p in fast.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("direction", ["poc_to_peft", "peft_to_poc"])
def test_checkpoint_saved_by_one_loads_in_the_other(tmp_path: Path, direction: str) -> None:
    torch.manual_seed(0)
    base = Shapes()
    config = RandLoraConfig(r=8, target_modules=["square", "wide", "tall"], randlora_alpha=16,
                            save_projection=False, projection_prng_key=42)
    reference, fast = pair(base, config)
    source = fast if direction == "poc_to_peft" else reference
    source.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(copy.deepcopy(base), tmp_path)
    if direction == "peft_to_poc":
        assert accelerate(loaded) == 3
    x = torch.randn(3, 5, 24)
    source.eval()
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), rtol=0, atol=1e-6)


def test_merge_and_disable_fall_back_to_peft() -> None:
    config = RandLoraConfig(r=8, target_modules=["square", "wide", "tall"], save_projection=False)
    reference, fast = pair(Shapes(), config)
    x = torch.randn(2, 3, 24)
    fast.eval()
    with torch.no_grad():
        adapted = fast(x)
        with fast.disable_adapter():
            plain = fast(x)
        merged = fast.merge_and_unload()(x)
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain, adapted)
