"""Classification metrics over label tensors or arrays."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def accuracy(predictions, targets) -> float:
    """Fraction of equal entries of two label arrays of the same shape."""
    p, t = _np(predictions), _np(targets)
    if p.shape != t.shape:
        raise ValueError(f"predictions {p.shape} and targets {t.shape} differ in shape")
    return float((p == t).mean()) if t.size else float("nan")


def confusion_matrix(predictions, targets, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = true class, columns = predicted class."""
    p, t = _np(predictions).ravel().astype(np.int64), _np(targets).ravel().astype(np.int64)
    for name, a in (("predictions", p), ("targets", t)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} contain labels outside [0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix (NaN for classes that never occur)."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)
