"""The one implementation of every threshold-free ranking figure: AUROC, AUPRC, the ROC and PR
points, and the best F1 over all thresholds.

Every other module (point-wise, video, evaluate, VUS, the best-threshold searches) calls these;
there is no second AUROC in the package, so the figures cannot drift apart again.

Definitions follow scikit-learn (Pedregosa et al. 2011), against which the tests check them:

- thresholds are the distinct scores, a step is flagged when ``score >= threshold`` (ties form one
  threshold);
- AUROC is the trapezoidal area under (FPR, TPR) from (0, 0) through every distinct threshold
  (``roc_auc_score``); it equals the Mann-Whitney rank statistic with ties counting one half;
- AUPRC is average precision, ``sum_n (R_n - R_{n-1}) P_n`` (``average_precision_score``, a right
  step, no interpolation);
- a ratio with an empty denominator is 0 (``zero_division=0``);
- Precision@K flags the ``K`` highest scores (``K`` = the number of anomalous steps by default).

Inputs are tensors (or arrays) of any shape; all steps are pooled, computed in float64. Labels are
anomalous when equal to 1 (or True); with ``unknown_below_zero`` labels < 0 mean "unknown" and the
step is left out, and any label > 0 is anomalous (the video metrics' convention). An undefined
area (one class only) is NaN, with a warning unless ``warn=False``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean of a precision and a recall (0 when both are 0)."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def fbeta_of(precision: float, recall: float, beta: float = 1.0) -> float:
    """F-beta of a precision and a recall (0 when both are 0)."""
    b2 = beta * beta
    denom = b2 * precision + recall
    return float((1 + b2) * precision * recall / denom) if denom > 0 else 0.0


def ratio(num, den) -> float:
    """``num / den`` as a float, 0 when ``den`` is not positive (scikit-learn's ``zero_division=0``)."""
    num, den = float(num), float(den)
    return num / den if den > 0 else 0.0


def _flat(x) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(x)
    return t.reshape(-1)


def scores_and_labels(scores, target, unknown_below_zero: bool = False) -> tuple[Tensor, Tensor]:
    """Flat float64 scores and bool labels (1 or True = anomalous), checked for equal size and NaN;
    with ``unknown_below_zero`` the steps labelled < 0 are dropped."""
    s = _flat(scores).to(torch.float64)
    y = _flat(target)
    if s.numel() != y.numel():
        raise ValueError(f"scores has {s.numel()} values but target has {y.numel()}")
    if unknown_below_zero and y.dtype != torch.bool:
        keep = y >= 0
        s, y = s[keep], y[keep] > 0
    y = y if y.dtype == torch.bool else y == 1
    if bool(torch.isnan(s).any()):
        raise ValueError("scores contain NaN")
    return s, y


def threshold_counts(scores, target, unknown_below_zero: bool = False) -> tuple[Tensor, Tensor, Tensor, float]:
    """True and false positive counts ``(D,)`` at each distinct threshold (scores descending,
    ``score >= threshold`` flagged), the thresholds ``(D,)`` and the number of positives."""
    s, y = scores_and_labels(scores, target, unknown_below_zero)
    if s.device.type == "cpu":  # numpy's vectorised sort is several times faster than torch's for float64
        order = torch.from_numpy(np.argsort(-s.detach().numpy(), kind="stable"))
    else:
        order = torch.argsort(s, descending=True, stable=True)
    s, yf = s[order], y[order].to(torch.float64)
    last = torch.ones_like(s, dtype=torch.bool)  # last position of each run of equal scores
    last[:-1] = s[1:] != s[:-1]
    tps = yf.cumsum(0)[last]
    fps = (1.0 - yf).cumsum(0)[last]
    return tps, fps, s[last], float(yf.sum())


def roc_points(scores, target, unknown_below_zero: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``fpr``, ``tpr`` and thresholds of the ROC curve, starting at (0, 0) with threshold +inf
    (scikit-learn's ``roc_curve`` with ``drop_intermediate=False``); NaN rates for a missing class."""
    tps, fps, thr, pos = threshold_counts(scores, target, unknown_below_zero)
    neg = float(fps[-1]) if fps.numel() else 0.0
    zero = tps.new_zeros(1)
    tpr = torch.cat([zero, tps / pos]) if pos > 0 else torch.full((tps.numel() + 1,), math.nan, dtype=torch.float64)
    fpr = torch.cat([zero, fps / neg]) if neg > 0 else torch.full((fps.numel() + 1,), math.nan, dtype=torch.float64)
    return fpr, tpr, torch.cat([thr.new_full((1,), math.inf), thr])


def pr_points(scores, target, unknown_below_zero: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``precision``, ``recall`` and thresholds at each distinct threshold, highest threshold first."""
    tps, fps, thr, pos = threshold_counts(scores, target, unknown_below_zero)
    precision = tps / (tps + fps)
    recall = tps / pos if pos > 0 else torch.zeros_like(tps)
    return precision, recall, thr


def auroc(scores, target, *, unknown_below_zero: bool = False, warn: bool = True) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``); NaN when only one class is present."""
    tps, fps, _, pos = threshold_counts(scores, target, unknown_below_zero)
    neg = float(fps[-1]) if fps.numel() else 0.0
    if pos == 0 or neg == 0:
        if warn:
            warnings.warn("AUROC is undefined when the target holds only one class; returning NaN", stacklevel=2)
        return math.nan
    tpr = torch.cat([tps.new_zeros(1), tps / pos])
    fpr = torch.cat([fps.new_zeros(1), fps / neg])
    return float(torch.trapezoid(tpr, fpr))


def auprc(scores, target, *, unknown_below_zero: bool = False, warn: bool = True) -> float:
    """Average precision (scikit-learn's ``average_precision_score``); NaN without positives."""
    tps, fps, _, pos = threshold_counts(scores, target, unknown_below_zero)
    if pos == 0:
        if warn:
            warnings.warn("AUPRC is undefined when the target has no anomalous step; returning NaN", stacklevel=2)
        return math.nan
    precision = tps / (tps + fps)
    recall = tps / pos
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


def best_f1(scores, target, *, unknown_below_zero: bool = False) -> dict[str, float]:
    """The highest point-wise F1 over every threshold ``score >= thr`` (an oracle figure: the
    threshold is chosen on the labels it is scored on), with its ``threshold``, ``precision`` and
    ``recall``; among equal F1 the highest threshold wins."""
    tps, fps, thr, pos = threshold_counts(scores, target, unknown_below_zero)
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


__all__ = [
    "auprc",
    "auroc",
    "best_f1",
    "f1_of",
    "fbeta_of",
    "pr_points",
    "precision_at_k",
    "ratio",
    "roc_points",
    "scores_and_labels",
    "threshold_counts",
]


def precision_at_k(scores, target, k: int | None = None) -> dict[str, float]:
    """Precision@K, recall and F@K of the ``k`` highest scores (default: ``k`` = the number of
    anomalous steps, when P@K is the R-precision): the steps scoring at least the ``k``-th highest
    score are flagged (a tie at the border flags them all), ``precision`` = anomalous among them /
    flagged, ``f1`` their F1 with the recall. Also the ``threshold`` and ``k`` used."""
    s, y = scores_and_labels(scores, target)
    pos = int(y.sum())
    k = pos if k is None else int(k)
    if k < 1 or k > s.numel():
        raise ValueError(f"k={k} must be in [1, {s.numel()}] (the number of steps)")
    thr = torch.topk(s, k).values[-1]
    flagged = s >= thr
    tp = float((flagged & y).sum())
    precision = ratio(tp, flagged.sum())
    recall = ratio(tp, pos)
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall), "threshold": float(thr), "k": k}
