"""Scores of a classifier's answers: accuracy, macro-F1, per-class precision and recall, the confusion matrix.

Torch-free: the tasks score with it, and compare and the report score the trivial answer (`trivial`) with it
without loading a task.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(y_true: list[int], y_pred: list[int], labels: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision and recall, confusion matrix (rows: true)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support  # 1 s: only when scoring

    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }
