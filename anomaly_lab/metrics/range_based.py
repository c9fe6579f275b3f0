"""Range-based precision and recall for time series (Tatbul, Lee, Zdonik, Alam, Gottschlich,
"Precision and Recall for Time Series", NeurIPS 2018).

With real anomaly ranges ``R_1..R_Nr`` and predicted ranges ``P_1..P_Np``:

- ``Recall_T(R_i) = alpha * Existence(R_i) + (1 - alpha) * Cardinality(R_i) * sum_j omega(R_i, R_i & P_j)``
- ``Precision_T(P_j) = Cardinality(P_j) * sum_i omega(P_j, P_j & R_i)`` (no existence term)
- Recall and precision are the means over real and predicted ranges; F1 their harmonic mean.

``omega(X, overlap)`` is the share of X's positional weight that the overlap covers, the weight of
step ``t = 1..L`` of a range of length ``L`` given by the bias: ``flat`` 1, ``front`` L - t + 1,
``back`` t, ``middle`` t up to L/2 then L - t + 1. Cardinality is 1 when a range overlaps at most
one range of the other side, else ``gamma``: 1 (``cardinality="one"``) or 1/x for x overlapping
ranges (``"reciprocal"``). These are the options of the paper's reference implementation and of
the ``prts`` package, against which the tests were checked.

``range_pr_auc`` is the area under the range-based PR curve over thresholds, as TimeEval computes it.

Overlapping pairs of ranges are found with ``searchsorted`` and each omega is a closed-form sum, so
the cost is O((Nr + Np) log) tensor ops, with no loop over ranges.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.ranking import f1_of
from anomaly_lab.metrics.segments import Segments, as_binary, as_rows, find_segments

BIASES = ("flat", "front", "back", "middle")
CARDINALITIES = ("one", "reciprocal")


def _bias_sum(a: Tensor, b: Tensor, length: Tensor, bias: str) -> Tensor:
    """Sum of the positional weights of steps ``a..b`` (1-based, inclusive; empty when a > b) of
    ranges of ``length`` steps, all float64 tensors."""
    n = (b - a + 1).clamp(min=0)
    if bias == "flat":
        return n
    tri = (a + b) * n / 2  # sum of t over a..b
    if bias == "back":
        return tri
    if bias == "front":
        return n * (length + 1) - tri
    mid = torch.floor(length / 2)  # middle: t <= L/2 weighs t, later steps weigh L - t + 1
    b1 = torch.minimum(b, mid)
    n1 = (b1 - a + 1).clamp(min=0)
    part1 = (a + b1) * n1 / 2
    a2 = torch.maximum(a, mid + 1)
    n2 = (b - a2 + 1).clamp(min=0)
    part2 = n2 * (length + 1) - (a2 + b) * n2 / 2
    return part1 + part2


def _overlap_pairs(xs: Tensor, xe: Tensor, ys: Tensor, ye: Tensor) -> tuple[Tensor, Tensor]:
    """All (i, j) with ``[xs_i, xe_i)`` and ``[ys_j, ye_j)`` overlapping; both lists sorted and disjoint."""
    lo = torch.searchsorted(ye, xs, right=True)  # first y ending after x starts
    hi = torch.searchsorted(ys, xe, right=False)  # y starting before x ends
    count = (hi - lo).clamp(min=0)
    i = torch.repeat_interleave(torch.arange(xs.numel(), device=xs.device), count)
    first = torch.repeat_interleave(lo, count)
    offsets = torch.arange(i.numel(), device=xs.device) - torch.repeat_interleave(count.cumsum(0) - count, count)
    return i, first + offsets


def _side_scores(xs: Tensor, xe: Tensor, ys: Tensor, ye: Tensor, bias: str, cardinality: str) -> tuple[Tensor, Tensor]:
    """For each range X: existence (bool) and cardinality * sum of omega over overlapping Y ranges."""
    n = xs.numel()
    i, j = _overlap_pairs(xs, xe, ys, ye)
    f = torch.float64
    length = (xe - xs).to(f)
    a = (torch.maximum(xs[i], ys[j]) - xs[i] + 1).to(f)
    b = (torch.minimum(xe[i], ye[j]) - xs[i]).to(f)
    omega = _bias_sum(a, b, length[i], bias) / _bias_sum(torch.ones_like(length[i]), length[i], length[i], bias)
    total = torch.zeros(n, dtype=f, device=xs.device).index_add_(0, i, omega)
    count = torch.zeros(n, dtype=torch.int64, device=xs.device).index_add_(0, i, torch.ones_like(i))
    gamma = torch.ones(n, dtype=f, device=xs.device)
    if cardinality == "reciprocal":
        gamma = torch.where(count > 1, 1.0 / count.clamp(min=1).to(f), gamma)
    return count > 0, gamma * total


def range_scores_of(
    real: Segments,
    pred: Segments,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: str = "one",
    recall_bias: str | None = None,
) -> dict[str, float]:
    """Range-based ``precision``, ``recall`` and ``f1`` of two sets of runs on the same rows (the recall
    with ``recall_bias`` when given, else ``bias``)."""
    rs, re_ = real.flat_start, real.flat_end
    ps, pe = pred.flat_start, pred.flat_end
    if len(real):
        exists, overlap = _side_scores(rs, re_, ps, pe, recall_bias or bias, cardinality)
        recall = float((alpha * exists.to(torch.float64) + (1 - alpha) * overlap).mean())
    else:
        recall = 0.0
    if len(pred):
        _, overlap = _side_scores(ps, pe, rs, re_, bias, cardinality)
        precision = float(overlap.mean())
    else:
        precision = 0.0
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}


def range_prf(
    pred,
    target,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: str = "one",
    recall_bias: str | None = None,
) -> dict[str, float]:
    """Range-based ``precision``, ``recall``, ``f1`` of binary flags ``(T,)`` or ``(B, T)``; ranges
    of all rows are pooled (a range never crosses rows). ``bias`` is the positional bias of both
    sides unless ``recall_bias`` gives the recall its own (as ``prts.ts_fscore``'s ``p_bias`` and
    ``r_bias``).

    With no predicted range the precision is 0, and with no real range the recall is 0. ``prts``
    does not define these cases (it fails an assertion on an all-zero prediction or target); 0 is
    scikit-learn's ``zero_division=0`` and what TSB-AD's ``range_recall_new`` returns without
    ranges, and it keeps a best-threshold search defined at thresholds that flag nothing."""
    check_range("alpha", alpha, 0.0, 1.0)
    check_choice("bias", bias, BIASES)
    check_choice("cardinality", cardinality, CARDINALITIES)
    if recall_bias is not None:
        check_choice("recall_bias", recall_bias, BIASES)
    p, t = as_binary(pred, "pred"), as_binary(target, "target")
    if p.shape != t.shape:
        raise ConfigError(f"pred has shape {tuple(p.shape)} but target has {tuple(t.shape)}")
    return range_scores_of(find_segments(t), find_segments(p), alpha, bias, cardinality, recall_bias)


def range_pr_auc(
    scores,
    target,
    max_samples: int = 50,
    alpha: float = 0.5,
    bias: str = "flat",
    cardinality: str = "reciprocal",
) -> float:
    """Area under the range-based precision-recall curve, the procedure of TimeEval's ``RangePrAUC``
    (Wenig et al. 2022) on Tatbul's precision (no existence term) and recall (existence weight
    ``alpha``); its defaults.

    Thresholds: the distinct scores without the lowest (which flags everything: that point is set to
    recall 1 and precision = the share of anomalous steps), thinned to every ``m``-th with
    ``m = count // (max_samples - 1)`` plus the highest when there are more than ``max_samples``; a
    step is flagged when ``score >= threshold``. The points, with (recall 0, precision 1) added, are
    ordered by recall descending (ties: precision ascending) and integrated with the trapezoid rule.
    One vectorised range-based figure per threshold."""
    check_range("max_samples", max_samples, 2, integer=True)
    s = as_rows(scores, "scores").to(torch.float64)
    t = as_binary(target, "target")
    if s.shape != t.shape:
        raise ConfigError(f"scores has shape {tuple(s.shape)} but target has {tuple(t.shape)}")
    thresholds = torch.unique(s)[1:]  # ascending, without the lowest
    if thresholds.numel() > max_samples:
        every = thresholds.numel() // (max_samples - 1)
        sampled = thresholds[::every]
        if sampled[-1] != thresholds[-1]:
            sampled = torch.cat([sampled, thresholds[-1:]])
        thresholds = sampled
    real = find_segments(t)
    precisions, recalls = [], []
    for v in thresholds.tolist():
        r = range_scores_of(real, find_segments(s >= v), alpha, bias, cardinality)
        precisions.append(r["precision"])
        recalls.append(r["recall"])
    prec = torch.tensor(precisions, dtype=torch.float64)
    rec = torch.tensor(recalls, dtype=torch.float64)
    order = torch.as_tensor(np.lexsort((-prec.numpy(), rec.numpy()))[::-1].copy())
    share = float(t.sum()) / t.numel()
    prec = torch.cat([torch.tensor([share], dtype=torch.float64), prec[order], torch.ones(1, dtype=torch.float64)])
    rec = torch.cat([torch.ones(1, dtype=torch.float64), rec[order], torch.zeros(1, dtype=torch.float64)])
    return float(-torch.trapezoid(prec, rec))
