"""Text classification (single text or a text pair): batches and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding


class _Encoded(torch.utils.data.Dataset):
    def __init__(self, encodings: dict[str, list[list[int]]], labels: list[int]) -> None:
        self.encodings = encodings
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, list[int] | int]:
        item = {key: values[index] for key, values in self.encodings.items()}
        item["labels"] = self.labels[index]
        return item


def encode(frame: pd.DataFrame, tokenizer, labels: tuple[str, ...], max_length: int) -> _Encoded:  # noqa: ANN001
    """Tokenise a split once, up front; padding is left to the collator (per batch)."""
    pair = frame["text_pair"].tolist() if "text_pair" in frame else None
    encodings = tokenizer(frame["text"].tolist(), pair, truncation=True, max_length=max_length)
    index = {label: i for i, label in enumerate(labels)}
    return _Encoded(dict(encodings), [index[label] for label in frame["label"]])


def loader(
    dataset: _Encoded, tokenizer, *, batch_size: int, shuffle: bool, seed: int  # noqa: ANN001
) -> DataLoader:
    """Batches padded to their longest example; the order is drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=DataCollatorWithPadding(tokenizer),
    )


def classification_metrics(y_true: list[int], y_pred: list[int], labels: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, per-class precision and recall, confusion matrix (rows: true)."""
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }
