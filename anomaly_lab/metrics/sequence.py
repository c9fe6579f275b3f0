"""Metrics of anomaly location in sequences: final-step location accuracy and per-step flags."""

from __future__ import annotations

import torch
from torch import Tensor


def location_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Share of sequences whose argmax at the final step is the anomaly slot."""
    return (logits.argmax(-1) == target).float().mean()


def step_prf(pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Precision, recall and F1 of binary per-step flags (all steps pooled); 0 where undefined."""
    pred, target = pred.bool(), target.bool()
    tp = (pred & target).sum().float()
    fp = (pred & ~target).sum().float()
    fn = (~pred & target).sum().float()
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), torch.zeros_like(tp)
    )
    return {"precision": precision, "recall": recall, "f1": f1}


def confusion_counts(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """``(C, C)`` counts, rows = true class, columns = predicted."""
    idx = target.to(torch.int64) * num_classes + pred.to(torch.int64)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
