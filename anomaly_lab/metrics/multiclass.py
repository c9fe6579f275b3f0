"""Classification metrics from a confusion matrix: accuracy, per-class and weighted precision,
recall and F1, and the F-beta of anomalous-vs-normal that ROAD reports (beta = 2).

All figures follow scikit-learn's definitions with ``zero_division=0`` (a ratio with an empty
denominator is 0); tests check them against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.metrics.ranking import fbeta_of, ratio
from anomaly_lab.metrics.sequence import confusion_counts


def per_class_prf(confusion: Tensor) -> dict[str, Tensor]:
    """Per-class ``precision``, ``recall``, ``f1`` and ``support`` ``(C,)`` of a ``(C, C)`` confusion
    matrix (rows = true, columns = predicted)."""
    cm = confusion.to(torch.float64)
    tp = cm.diagonal()
    predicted = cm.sum(0)
    support = cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def fbeta(precision: float, recall: float, beta: float = 2.0) -> float:
    """F-beta of a precision and recall (0 when both are 0); :func:`anomaly_lab.metrics.ranking.fbeta_of`."""
    return fbeta_of(precision, recall, beta)


def binary_scores(pred_anomalous: Tensor, true_anomalous: Tensor, beta: float = 2.0) -> dict[str, float]:
    """Anomalous (positive) vs normal: ``precision``, ``recall``, ``f{beta}``, ``fpr`` (false alarms
    among normal samples) and ``acc``."""
    p, t = pred_anomalous.bool().flatten().cpu(), true_anomalous.bool().flatten().cpu()
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    tn = int((~p & ~t).sum())
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    name = f"f{beta:g}"
    return {
        "precision": precision,
        "recall": recall,
        name: fbeta(precision, recall, beta),
        "fpr": ratio(fp, fp + tn),
        "acc": (tp + tn) / max(1, tp + fp + fn + tn),
    }


def classification_scores(
    pred: Tensor, true: Tensor, class_names: Sequence[str], beta: float = 2.0, normal_class: int = 0
) -> tuple[dict[str, float], Tensor]:
    """Every figure the spectrogram models report, as a flat dict of floats, and the confusion matrix.

    Keys: ``acc``; ``precision_weighted``, ``recall_weighted``, ``f1_weighted`` (weighted by
    support) and the ``_macro`` means; ``precision/<class>``, ``recall/<class>``, ``f1/<class>``;
    ``f2`` (or ``f{beta}``), ``binary_precision``, ``binary_recall``, ``fpr`` of anomalous (any class
    but ``normal_class``) vs normal.
    """
    n = len(class_names)
    pred, true = pred.detach().to("cpu", torch.int64).flatten(), true.detach().to("cpu", torch.int64).flatten()
    cm = confusion_counts(pred, true, n)
    prf = per_class_prf(cm)
    support = prf["support"]
    total = float(support.sum())
    out: dict[str, float] = {"acc": float(cm.diagonal().sum()) / max(total, 1.0)}
    for key in ("precision", "recall", "f1"):
        out[f"{key}_weighted"] = float((prf[key] * support).sum() / total) if total else 0.0
        out[f"{key}_macro"] = float(prf[key].mean())
    for k, name in enumerate(class_names):
        for key in ("precision", "recall", "f1"):
            out[f"{key}/{name}"] = float(prf[key][k])
    binary = binary_scores(pred != normal_class, true != normal_class, beta)
    out[f"f{beta:g}"] = binary[f"f{beta:g}"]
    out["binary_precision"] = binary["precision"]
    out["binary_recall"] = binary["recall"]
    out["fpr"] = binary["fpr"]
    return out, cm
