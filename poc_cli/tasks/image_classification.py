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
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification, PretrainedConfig

from poc_cli.tasks.base import ClassificationTask, label_config, top_level_heads
from poc_cli.tasks.images import image_dataset, image_loader, read_image_folder, resolve_images

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec


class ImageClassification(ClassificationTask):
    """An `AutoModelForImageClassification`; a pretrained head of another size is replaced."""

    name = "image-classification"
    data_fields = frozenset({"image_column"})
    excluded_by_default = ("pooler",)
    folder_reader = staticmethod(read_image_folder)

    def columns(self) -> dict[str, str]:
        return {"image": "image_column"}

    def finish_split(self, frame: pd.DataFrame, *, location: str, field: str) -> pd.DataFrame:
        return resolve_images(frame, location=location, field=field)

    def config(self, source: str, labels: tuple[str, ...]) -> PretrainedConfig:
        return label_config(AutoConfig.from_pretrained, source, labels)

    def skeleton(self, config: PretrainedConfig) -> nn.Module:
        with torch.device("meta"):
            return AutoModelForImageClassification.from_config(config)

    def load_model(self, source: str, config: PretrainedConfig) -> nn.Module:
        # A checkpoint with a 1,000-class ImageNet head gets a new head of the task's size.
        return AutoModelForImageClassification.from_pretrained(source, config=config, ignore_mismatched_sizes=True)

    def processor(self, source: str, config: PretrainedConfig) -> Any:
        del config
        return AutoImageProcessor.from_pretrained(source)

    def head_modules(self, model: nn.Module) -> tuple[str, ...]:
        return top_level_heads(model)

    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        del training
        return image_dataset(frame, processor, labels)

    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        del processor
        return image_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(pixel_values=batch["pixel_values"]).logits
