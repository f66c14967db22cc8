"""`task: image-classification`: ViT, DeiT, DINOv2, Swin, ConvNeXt ... with a new head over the labels.

Data: an image folder (`train: path/`, one sub-folder per class) or a table with an image
path column (`data.image_column`, paths relative to the table file). Images are decoded with
Pillow, converted to RGB, and preprocessed by the model's own image processor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoModelForImageClassification, PretrainedConfig

from poc_cli.efficientnet_lite import MODEL_TYPE, register
from poc_cli.tasks.base import HeadClassification
from poc_cli.tasks.images import ImageInputs, image_dataset, image_loader, square

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec

register()  # builtin:efficientnet-lite0 loads through transformers' Auto classes


class ImageClassification(ImageInputs, HeadClassification):
    """An `AutoModelForImageClassification`; a pretrained head of another size is replaced."""

    name = "image-classification"
    auto_model = AutoModelForImageClassification
    # A checkpoint with a 1,000-class ImageNet head gets a new head of the task's size.
    load_kwargs = {"ignore_mismatched_sizes": True}
    data_fields = frozenset({"image_column", "image_size"})
    excluded_by_default = ("pooler",)

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        """The model's config; EfficientNet-Lite's static padding computed for `data.image_size`."""
        config = super().config(source, labels)
        if config.model_type == MODEL_TYPE and self.spec.image_size is not None:
            config.image_size = self.spec.image_size
        return config

    def processor(self, source: str, config: PretrainedConfig) -> Any:
        del config
        from transformers import AutoImageProcessor  # 1.6 s to import: only where images are processed

        processor = AutoImageProcessor.from_pretrained(source)
        return processor if self.spec.image_size is None else square(processor, self.spec.image_size)

    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        del training
        return image_dataset(frame, processor, labels)

    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        del processor
        return image_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(pixel_values=batch["pixel_values"]).logits
