"""Point-wise (per time step) metrics: precision, recall and F1 of flags.

The threshold-free figures (AUROC, AUPRC, the best F1 over thresholds, the ROC points) live in
:mod:`anomaly_lab.metrics.ranking`, the package's one implementation of them; they are re-exported
here because callers import them from this module. Definitions follow scikit-learn: a ratio with an
empty denominator is 0 (``zero_division=0``). Every function takes tensors of any shape (all steps
are pooled) on any device.
"""

from __future__ import annotations

import torch

from anomaly_lab.metrics.ranking import auprc, auroc, best_f1, f1_of, ratio, roc_points


def point_prf(pred, target) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` of binary flags (values equal to 1 or True), all steps pooled."""
    p = pred if isinstance(pred, torch.Tensor) else torch.as_tensor(pred)
    t = target if isinstance(target, torch.Tensor) else torch.as_tensor(target)
    p, t = p.reshape(-1), t.reshape(-1)
    p = p if p.dtype == torch.bool else p == 1
    t = t if t.dtype == torch.bool else t == 1
    tp = (p & t).sum()
    precision = ratio(tp, p.sum())
    recall = ratio(tp, t.sum())
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}


__all__ = ["auprc", "auroc", "best_f1", "f1_of", "point_prf", "roc_points"]
