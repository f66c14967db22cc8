"""BatchNorm under a PEFT method: frozen whole, running statistics included.

A BatchNorm layer keeps running statistics, which `model.train()` lets every batch update even
where its weights are frozen. Under a PEFT method that would change the frozen base outside the
adapter: the saved adapter on the pretrained model would not be the model that was trained and
scored. So where the base is frozen, poc freezes BatchNorm whole: its affine weights stay frozen
like every base weight, and it normalises with its pretrained running statistics in training as
in scoring (eval mode). This is one policy for every PEFT method, so none gains or loses by
it. Full fine-tuning trains them: affine weights trained, statistics updated by each batch.
LayerNorm and GroupNorm keep no statistics: they follow the method like any other weight.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _hold_statistics(module: nn.Module, args: tuple[object, ...]) -> None:
    """A forward pre-hook: normalise with the running statistics and leave them as they are."""
    del args
    module.training = False


def batchnorm_policy(model: nn.Module, *, frozen_base: bool) -> dict[str, Any] | None:
    """Apply the policy above to `model`; what it did, for the record (None: it has no BatchNorm):
    `frozen` (pretrained statistics) or `trained` (statistics updated by each batch), and how many."""
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not layers:
        return None
    if frozen_base:
        for layer in layers:
            layer.register_forward_pre_hook(_hold_statistics)
    return {"policy": "frozen" if frozen_base else "trained", "layers": len(layers)}
