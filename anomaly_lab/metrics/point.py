"""Point-wise (per time step) metrics: precision, recall, F1, AUROC, AUPRC and the best-F1 threshold.

Definitions follow scikit-learn (Pedregosa et al. 2011): a ratio with an empty denominator is 0
(``zero_division=0``); AUROC is the trapezoidal area under the ROC curve through every distinct
score; AUPRC is average precision, ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds (no
interpolation). Tests check each against ``sklearn.metrics``. Every function takes tensors of any
shape (all steps are pooled) on any device and computes in float64.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor


def _flat(x) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(x)
    return t.reshape(-1)


def _ratio(num: Tensor | float, den: Tensor | float) -> float:
    num, den = float(num), float(den)
    return num / den if den > 0 else 0.0


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean of a precision and a recall (0 when both are 0)."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def point_prf(pred, target) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` of binary flags (values equal to 1 or True), all steps pooled."""
    p, t = _flat(pred), _flat(target)
    p = p if p.dtype == torch.bool else p == 1
    t = t if t.dtype == torch.bool else t == 1
    tp = (p & t).sum()
    precision = _ratio(tp, p.sum())
    recall = _ratio(tp, t.sum())
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}


def _sorted_counts(scores, target) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """True/false positive counts at each distinct threshold (scores descending) and the thresholds."""
    s = _flat(scores).to(torch.float64)
    y = _flat(target)
    y = (y if y.dtype == torch.bool else y == 1).to(torch.float64)
    if s.numel() != y.numel():
        raise ValueError(f"scores has {s.numel()} values but target has {y.numel()}")
    if bool(torch.isnan(s).any()):
        raise ValueError("scores contain NaN")
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order]
    last = torch.ones_like(s, dtype=torch.bool)  # last position of each run of equal scores
    last[:-1] = s[1:] != s[:-1]
    tps = y.cumsum(0)[last]
    fps = (1.0 - y).cumsum(0)[last]
    return tps, fps, s[last], y.sum()


def roc_points(scores, target) -> tuple[Tensor, Tensor, Tensor]:
    """``fpr``, ``tpr`` and thresholds of the ROC curve (starting at (0, 0))."""
    tps, fps, thr, pos = _sorted_counts(scores, target)
    neg = fps[-1] if fps.numel() else torch.tensor(0.0)
    zero = tps.new_zeros(1)
    tpr = torch.cat([zero, tps / pos]) if pos > 0 else torch.full((tps.numel() + 1,), math.nan)
    fpr = torch.cat([zero, fps / neg]) if neg > 0 else torch.full((fps.numel() + 1,), math.nan)
    return fpr, tpr, torch.cat([thr.new_full((1,), math.inf), thr])


def auroc(scores, target) -> float:
    """Area under the ROC curve (sklearn's ``roc_auc_score``); NaN with a warning when the target
    has only one class."""
    tps, fps, _, pos = _sorted_counts(scores, target)
    neg = fps[-1] if fps.numel() else 0.0
    if pos == 0 or neg == 0:
        warnings.warn("AUROC is undefined when the target holds only one class; returning NaN", stacklevel=2)
        return math.nan
    tpr = torch.cat([tps.new_zeros(1), tps / pos])
    fpr = torch.cat([fps.new_zeros(1), fps / neg])
    return float(torch.trapezoid(tpr, fpr))


def auprc(scores, target) -> float:
    """Average precision (sklearn's ``average_precision_score``); NaN with a warning without positives."""
    tps, fps, _, pos = _sorted_counts(scores, target)
    if pos == 0:
        warnings.warn("AUPRC is undefined when the target has no anomalous step; returning NaN", stacklevel=2)
        return math.nan
    precision = tps / (tps + fps)
    recall = tps / pos
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


def best_f1(scores, target) -> dict[str, float]:
    """The highest point-wise F1 over every threshold ``score >= thr`` (an oracle figure: the
    threshold is chosen on the labels it is scored on), with its ``threshold``, ``precision`` and
    ``recall``."""
    tps, fps, thr, pos = _sorted_counts(scores, target)
    if pos == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": math.inf}
    f1 = 2 * tps / (tps + fps + pos)
    k = int(torch.argmax(f1))
    return {
        "f1": float(f1[k]),
        "precision": float(tps[k] / (tps[k] + fps[k])),
        "recall": float(tps[k] / pos),
        "threshold": float(thr[k]),
    }
