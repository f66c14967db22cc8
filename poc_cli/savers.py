"""Memory savers applied to a built model: a quantized base made trainable, gradient checkpointing.

Both trade time for memory and change nothing else about the job, so they are applied the
same way for every method, around `Method.apply`, and the record and the report say they were on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec


def before_method(model: nn.Module, training: TrainingSpec) -> nn.Module:
    """A 4- or 8-bit base readied for adapters (peft's recipe: norms in fp32, everything frozen)."""
    if training.quantization == "none":
        return model
    from peft import prepare_model_for_kbit_training

    # Checkpointing is `after_method`'s, the same for quantized and unquantized bases.
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def after_method(model: nn.Module, training: TrainingSpec, *, frozen_base: bool) -> nn.Module:
    """Gradient checkpointing, non-reentrant: activations of each layer recomputed in backward."""
    if not training.gradient_checkpointing:
        return model
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if frozen_base:
        # With the base frozen nothing before the first adapter needs a gradient; the embeddings'
        # output must, so that backward reaches the recomputed layers (peft's advice).
        try:
            model.enable_input_require_grads()
        except NotImplementedError:  # no single input embedding (CLIP's two towers); non-reentrant needs none
            pass
    return model
