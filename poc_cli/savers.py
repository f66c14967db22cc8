"""Memory savers applied to a built model: gradient checkpointing.

It trades time for memory and changes nothing else about the job, so it is applied the same
way for every method, after `Method.apply`, and the record and the report say it was on.

A 4- or 8-bit base needs no step of its own: peft freezes the base as it adds adapters, and
what peft's `prepare_model_for_kbit_training` adds beyond that, upcasting every unquantized
half-precision weight (embeddings and `lm_head` included, about 2 GB on an 8B model with a
128k vocabulary) to fp32, would charge QLoRA's memory with weights that never train. Only the
parameters that train are made fp32 (`dtypes.to_master_weights`), and the record says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec


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
