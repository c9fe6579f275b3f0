"""Range-AUC and VUS (Volume Under the Surface) of anomaly scores.

Paparrizos, Boniol, Palpanas, Tsay, Elmore, Franklin, "Volume Under the Surface: A New Accuracy
Evaluation Measure for Time-Series Anomaly Detection", PVLDB 15(11), 2022.

Range-AUC with a buffer ``l`` softens the labels around each true segment: the ``l // 2`` steps
before and after it get ``sqrt(1 - d / l)`` at distance ``d`` (summed where buffers meet, capped at
1). At each threshold (the scores at ``linspace(0, n - 1, thresholds)`` positions of the sorted
scores, as the authors' code does), with ``TP`` the soft labels of the flagged steps,
``P`` the number of anomalous steps and ``P' = (P + sum of soft labels) / 2``:

    TPR = min(TP / P', 1) * (share of buffered segments with a flagged step)
    FPR = (flagged - TP) / (n - P'),   precision = TP / flagged

Range-AUC-ROC is the trapezoidal area of (FPR, TPR) from (0, 0) to (1, 1), Range-AUC-PR the
area of precision over TPR starting from precision 1; VUS-ROC and VUS-PR are their means over
``l = 0, 1, ..., window``. Buffered segments of one series merge when their buffers meet, and
buffers stop at the ends of each series. The numbers match the authors' reference code (TheDatumOrg
VUS, ``RangeAUC_volume_opt``) on one series; tests check worked cases and that ``window=0`` with
all thresholds is the plain ROC area.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.segments import as_binary, as_rows, find_segments


def default_window(target) -> int:
    """The median length of the true anomaly segments (at least 1): the buffer range VUS sweeps by default."""
    seg = find_segments(as_binary(target, "target"))
    if not len(seg):
        return 1
    return max(1, int(seg.length.to(torch.float64).median()))


def _threshold_counts(scores: Tensor, thresholds: int) -> tuple[Tensor, Tensor, Tensor]:
    """Thresholds as the reference picks them, the number of steps flagged at each, and the
    descending order of the scores."""
    n = scores.numel()
    order = torch.argsort(scores, descending=True, stable=True)
    ranked = scores[order]
    picks = torch.as_tensor(np.linspace(0, n - 1, thresholds).astype(np.int64), device=scores.device)
    thr = ranked[picks]
    ascending = ranked.flip(0)
    flagged = n - torch.searchsorted(ascending.contiguous(), thr.contiguous(), right=False)  # steps with score >= thr
    return thr, flagged, order


def _buffered(seg, rows: int, steps: int, window: int, device) -> tuple[Tensor, Tensor, Tensor]:
    """Soft labels ``(rows * steps,)`` for buffer ``window``, and the start/end (inclusive) of the
    merged buffered segments on the flat index ``row * steps + t``."""
    f = torch.float64
    labels = torch.zeros(rows * steps, dtype=f, device=device)
    base = seg.row * steps
    inside = torch.repeat_interleave(base + seg.start, seg.length) + (
        torch.arange(int(seg.length.sum()), device=device)
        - torch.repeat_interleave(seg.length.cumsum(0) - seg.length, seg.length)
    )
    labels[inside] = 1.0
    half = window // 2
    if half > 0:
        d = torch.arange(1, half + 1, device=device)
        value = torch.sqrt(1.0 - d.to(f) / window)
        after = (seg.end - 1)[:, None] + d[None, :]
        before = seg.start[:, None] - d[None, :]
        for pos in (after, before):
            ok = (pos >= 0) & (pos < steps)
            flat = (base[:, None] + pos)[ok]
            labels.index_add_(0, flat, value.expand_as(pos)[ok])
        labels.clamp_(max=1.0)
    lo = (seg.start - half).clamp(min=0)
    hi = (seg.end - 1 + half).clamp(max=steps - 1)
    new = torch.ones(len(seg), dtype=torch.bool, device=device)
    if len(seg) > 1:
        same_row = seg.row[1:] == seg.row[:-1]
        apart = (seg.end[:-1] - 1 + half) < (seg.start[1:] - half)
        new[1:] = ~same_row | apart
    group = new.cumsum(0) - 1
    g = int(group[-1]) + 1 if len(seg) else 0
    gs = torch.full((g,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=device)
    ge = torch.full((g,), -1, dtype=torch.int64, device=device)
    gs = gs.scatter_reduce(0, group, base + lo, reduce="amin")
    ge = ge.scatter_reduce(0, group, base + hi, reduce="amax")
    return labels, gs, ge


def _range_max(values: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """Largest of ``values`` over each disjoint inclusive interval ``[starts, ends]``."""
    n = values.numel()
    marks = torch.zeros(n + 1, dtype=torch.int64, device=values.device)
    k = torch.arange(starts.numel(), device=values.device) + 1
    marks.index_add_(0, starts, k)
    marks.index_add_(0, ends + 1, -k)
    ids = marks.cumsum(0)[:n] - 1
    inside = ids >= 0
    out = torch.full((starts.numel(),), -math.inf, dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, ids[inside], values[inside], reduce="amax")


def range_auc_curves(scores, target, window: int, thresholds: int = 250) -> dict[str, Tensor]:
    """TPR, FPR and precision at each threshold of Range-AUC with buffer ``window``, framed as the
    reference frames them (ROC from (0,0) to (1,1); precision starting at 1)."""
    s = as_rows(scores, "scores").to(torch.float64)
    t = as_binary(target, "target")
    if s.shape != t.shape:
        raise ConfigError(f"scores has shape {tuple(s.shape)} but target has {tuple(t.shape)}")
    rows, steps = t.shape
    seg = find_segments(t)
    flat_scores = s.reshape(-1)
    thr, flagged, order = _threshold_counts(flat_scores, thresholds)
    labels, gs, ge = _buffered(seg, rows, steps, window, s.device)
    n = flat_scores.numel()
    p = float(t.sum())
    p_new = (p + float(labels.sum())) / 2
    tp = torch.cat([labels.new_zeros(1), labels[order].cumsum(0)])[flagged]
    recall = (tp / p_new).clamp(max=1.0)
    seg_max = _range_max(flat_scores, gs, ge)
    existence = (seg_max[None, :] >= thr[:, None]).to(torch.float64).mean(1)
    tpr = recall * existence
    fpr = (flagged.to(torch.float64) - tp) / (n - p_new)
    precision = tp / flagged.to(torch.float64)
    one, zero = tpr.new_ones(1), tpr.new_zeros(1)
    return {
        "tpr": torch.cat([zero, tpr, one]),
        "fpr": torch.cat([zero, fpr, one]),
        "precision": torch.cat([one, precision]),
    }


def range_auc(scores, target, window: int, thresholds: int = 250) -> dict[str, float]:
    """Range-AUC-ROC and Range-AUC-PR with buffer ``window`` (``roc``, ``pr``)."""
    c = range_auc_curves(scores, target, window, thresholds)
    tpr, fpr, prec = c["tpr"], c["fpr"], c["precision"]
    roc = float(((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2).sum())
    pr = float(((tpr[1:-1] - tpr[:-2]) * (prec[1:] + prec[:-1]) / 2).sum())
    return {"roc": roc, "pr": pr}


def vus(scores, target, window: int | None = None, thresholds: int = 250) -> dict[str, float]:
    """``vus_roc`` and ``vus_pr``: Range-AUC-ROC and -PR averaged over buffers ``0..window``
    (``window`` defaults to :func:`default_window`); NaN with a warning without anomalous steps."""
    t = as_binary(target, "target")
    if not bool(t.any()):
        warnings.warn("VUS is undefined when the target has no anomalous step; returning NaN", stacklevel=2)
        return {"vus_roc": math.nan, "vus_pr": math.nan}
    window = default_window(t) if window is None else window
    check_range("vus window", window, 0, integer=True)
    check_range("vus thresholds", thresholds, 2, integer=True)
    rocs, prs = [], []
    for w in range(window + 1):  # a loop over buffer sizes, each fully vectorised
        r = range_auc(scores, t, w, thresholds)
        rocs.append(r["roc"])
        prs.append(r["pr"])
    return {"vus_roc": sum(rocs) / len(rocs), "vus_pr": sum(prs) / len(prs)}
