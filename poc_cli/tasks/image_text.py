"""`task: image-text`: CLIP-style classification by image-text similarity (CLIP, SigLIP).

Each class becomes a text prompt (`data.prompt_template`); the logits of an image are the
model's own scaled similarities (`logits_per_image`) between the image and the prompts of
all classes; the loss is cross-entropy over classes. Both towers train, every step encodes
the prompts with the text tower, and nothing new is added: the task has no head, so the
pretrained model scores zero-shot before any training (the plan's `zero-shot` row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

from poc_cli.errors import RecipeError
from poc_cli.tasks.base import ClassificationTask
from poc_cli.tasks.images import ImageInputs, image_dataset, image_loader, stack

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec

DEFAULT_PROMPT = "a photo of a {label}."
# Models trained with prompts padded to the full context (SigLIP): pad the same way, and no mask.
PAD_TO_CONTEXT = frozenset({"siglip", "siglip2"})


@dataclass(frozen=True)
class Processors:
    """The tokenizer, the image processor, and how the class prompts are tokenised."""

    tokenizer: Any
    image_processor: Any
    context: int  # the text tower's longest input
    pad_to_context: bool


class _WithPrompts:
    """A collate function: the batch of images, plus the tokenised prompts of every class."""

    def __init__(self, prompts: dict[str, torch.Tensor]) -> None:
        self.prompts = {f"prompt_{k}": v for k, v in prompts.items()}

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {**stack(items), **self.prompts}


class ImageText(ImageInputs, ClassificationTask):
    """An `AutoModel` with `get_image_features` and `get_text_features`; classes as prompts."""

    name = "image-text"
    data_fields = frozenset({"image_column", "prompt_template"})
    reference = "zero-shot"

    def check_spec(self) -> None:
        """The template names the class; a ValueError here becomes the recipe's one-line error."""
        template = self.template
        if "{label}" not in template:
            raise ValueError(f"data.prompt_template: {template!r} has no '{{label}}' for the class name")
        try:
            template.format(label="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"data.prompt_template: {template!r} is not a valid template ({exc}); "
                              "use {label} for the class name and {{ }} for literal braces") from None

    @property
    def template(self) -> str:
        return self.spec.prompt_template or DEFAULT_PROMPT

    def prompts(self, labels: tuple[str, ...]) -> list[str]:
        """One prompt per class, in label order (underscores in folder names read as spaces)."""
        return [self.template.format(label=label.replace("_", " ")) for label in labels]

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        del labels  # the classes are prompts, not a head
        return AutoConfig.from_pretrained(source)

    def _check(self, model: nn.Module) -> nn.Module:
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise RecipeError(f"model: {type(model).__name__} is not an image-text model "
                              "(task image-text needs get_image_features and get_text_features: CLIP, SigLIP)")
        return model

    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        with torch.device("meta"):
            return self._check(AutoModel.from_config(config))

    def load_model(self, source: str, config: PretrainedConfig, **weights: Any) -> nn.Module:
        return self._check(AutoModel.from_pretrained(source, config=config, **weights))

    def processor(self, source: str, config: PretrainedConfig) -> Processors:
        from transformers import AutoImageProcessor  # 1.6 s to import: only where images are processed

        text_config = getattr(config, "text_config", config)
        return Processors(tokenizer=AutoTokenizer.from_pretrained(source),
                          image_processor=AutoImageProcessor.from_pretrained(source),
                          context=int(getattr(text_config, "max_position_embeddings", 77)),
                          pad_to_context=config.model_type in PAD_TO_CONTEXT)

    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        del model
        return ()

    def encode(self, frame: pd.DataFrame, processor: Processors, labels: tuple[str, ...],
               training: TrainingSpec) -> Dataset:
        del training
        return image_dataset(frame, processor.image_processor, labels)

    def tokenized_prompts(self, processor: Processors, labels: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The class prompts as the text tower's input."""
        padding = "max_length" if processor.pad_to_context else True
        tokens = processor.tokenizer(self.prompts(labels), padding=padding, truncation=True,
                                     max_length=processor.context, return_tensors="pt")
        keep = ("input_ids",) if processor.pad_to_context else ("input_ids", "attention_mask")
        return {k: tokens[k] for k in keep if k in tokens}

    def loader(self, dataset: Dataset, processor: Processors, *, batch_size: int, shuffle: bool,
               seed: int) -> DataLoader:
        prompts = self.tokenized_prompts(processor, dataset.label_names)  # type: ignore[attr-defined]
        return image_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                            collate=_WithPrompts(prompts))

    def logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        text = {k.removeprefix("prompt_"): v for k, v in batch.items() if k.startswith("prompt_")}
        return model(pixel_values=batch["pixel_values"], **text).logits_per_image

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return 0  # the prompts are the same every step: throughput is in images
