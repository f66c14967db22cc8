"""`task: text-classification`: a single text, or a pair with `data.text_pair_column`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, PretrainedConfig

from poc_cli.tasks.base import HeadClassification, text_positions

if TYPE_CHECKING:
    from poc_cli.recipe import TrainingSpec


class _Encoded(Dataset):
    def __init__(self, encodings: dict[str, list[list[int]]], labels: list[int]) -> None:
        self.encodings = encodings
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, list[int] | int]:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


class TextClassification(HeadClassification):
    """An `AutoModelForSequenceClassification` with a new head over the labels."""

    name = "text-classification"
    auto_model = AutoModelForSequenceClassification
    data_fields = frozenset({"text_column", "text_pair_column"})
    excluded_by_default = ("pooler",)  # the pooler is not part of the encoder proper

    def columns(self) -> dict[str, str]:
        out = {"text": "text_column"}
        if self.spec.text_pair_column is not None:
            out["text_pair"] = "text_pair_column"
        return out

    def processor(self, source: str, config: PretrainedConfig) -> Any:
        del config
        return AutoTokenizer.from_pretrained(source)

    def position_limit(self, config: PretrainedConfig) -> int | None:
        return text_positions(config)

    def encode(self, frame: pd.DataFrame, processor: Any, labels: tuple[str, ...], training: TrainingSpec) -> Dataset:
        """Tokenise a split once, up front; padding is left to the collator (per batch)."""
        pair = frame["text_pair"].tolist() if "text_pair" in frame else None
        encodings = processor(frame["text"].tolist(), pair, truncation=True, max_length=training.max_length)
        index = {label: i for i, label in enumerate(labels)}
        return _Encoded(dict(encodings), [index[label] for label in frame["label"]])

    def example_tokens(self, dataset: Dataset) -> list[int] | None:
        assert isinstance(dataset, _Encoded)
        return [len(ids) for ids in dataset.encodings["input_ids"]]

    def loader(self, dataset: Dataset, processor: Any, *, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
        """Batches padded to their longest example."""
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                          generator=torch.Generator().manual_seed(seed), collate_fn=DataCollatorWithPadding(processor))

    def logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits
