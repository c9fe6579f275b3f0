"""Range-AUC and VUS (Volume Under the Surface) of anomaly scores, equal to the authors' code.

Paparrizos, Boniol, Palpanas, Tsay, Elmore, Franklin, "Volume Under the Surface: A New Accuracy
Evaluation Measure for Time-Series Anomaly Detection", PVLDB 15(11), 2022. The reference is the
authors' ``RangeAUC_volume_opt`` (the ``vus`` package, ``vus.utils.metrics.metricor``, and TSB-AD's
``TSB_AD.evaluation.basic_metrics.basic_metricor``: the code TSB-AD's published VUS numbers come
from); the tests compare with it on random cases.

Buffer ``w`` (``h = w // 2``) softens the labels around each true segment: the ``h`` steps before
and after it get ``sqrt(1 - d / w)`` at distance ``d`` (summed where two buffers overlap, capped at
1; a step of a true segment stays 1). The thresholds are the scores at positions
``linspace(0, n - 1, thresholds)`` of the scores sorted descending, a step flagged when
``score >= threshold``. At each threshold, with ``P`` anomalous steps, ``B`` the soft-label mass of
the *flagged* buffer steps, ``TP`` = flagged anomalous steps + ``B`` and ``m`` flagged steps:

    P' = P + B / 2,   TPR = min(TP / P', 1) * existence,   FPR = (m - TP) / (n - P'),   precision = TP / m

``existence`` is the share of buffered segments with a flagged step. Range-AUC-ROC is the
trapezoidal area of (FPR, TPR) from (0, 0) to (1, 1); Range-AUC-PR is a right step like average
precision, ``sum_k (TPR_k - TPR_{k-1}) precision_k`` from TPR 0. VUS-ROC and VUS-PR are their
means over ``w = 0, 1, ..., window``. With ``w = 0`` or 1 and a single segment Range-AUC-PR is the
average precision on those thresholds, and a perfect ranking scores 1.

**Buffered segments and touching buffers.** For the existence term, two segments of a series are
one buffered segment when their buffers share a step (``end_i + h >= start_j - h``, inclusive
ends); buffers that only touch (the first ends one step before the second starts) stay two
segments. This is the rule of ``RangeAUC_volume_opt`` (its ``new_sequence``), which VUS and
:func:`range_auc` follow. The older single-buffer ``RangeAUC`` of the ``vus`` package finds
segments as runs of non-zero soft labels, so it also merges touching buffers;
:func:`range_auc_original` reproduces that function, rule included. Buffers stop at the ends of
each series; rows of a ``(B, T)`` input are separate series whose steps are pooled (one set of
thresholds over all scores).

**Cost.** The reference re-thresholds the whole series for every (buffer, threshold) pair and loops
over segments in Python: O(window * thresholds * n). Here each step is ranked once (one sort), the
flagged counts at every threshold come from cumulative sums over the ranks, and only the buffer
steps are visited per buffer size: O(n log n + window * (S * window + thresholds)) for S segments,
memory O(n + S * window).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.segments import Segments, as_binary, as_rows, find_segments, segment_max


def default_window(target) -> int:
    """The median length of the true anomaly segments (at least 1): the buffer range VUS sweeps by default."""
    seg = find_segments(as_binary(target, "target"))
    if not len(seg):
        return 1
    return max(1, int(seg.length.to(torch.float64).median()))


def _sorted(values: Tensor) -> Tensor:
    """``values`` sorted ascending; on the CPU through numpy, whose vectorised sort is many times
    faster than torch's for float64 (the sort is the largest single cost of VUS)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.detach().numpy()))
    return torch.sort(values).values


class _Ranked:
    """Scores ranked once against the reference's thresholds: for each threshold ``k`` the number
    of flagged steps, and for any step the first threshold that flags it."""

    def __init__(self, flat_scores: Tensor, thresholds: int):
        n = flat_scores.numel()
        ascending = _sorted(flat_scores)
        picks = torch.as_tensor(np.linspace(0, n - 1, thresholds).astype(np.int64), device=flat_scores.device)
        self.thr = ascending.flip(0)[picks]  # (K,) non-increasing
        self.flagged = (n - torch.searchsorted(ascending, self.thr, right=False)).to(torch.float64)
        self._neg_thr = (-self.thr).contiguous()
        self.k = thresholds

    def first_flag(self, values: Tensor) -> Tensor:
        """Index of the first threshold at which ``values`` are flagged (``K``: never)."""
        return torch.searchsorted(self._neg_thr, (-values).contiguous(), right=False)

    def flagged_mass(self, first: Tensor, weights: Tensor | None = None) -> Tensor:
        """``(K,)``: at each threshold, the summed ``weights`` (default 1) of the items flagged there."""
        w = None if weights is None else weights.to(torch.float64)
        counts = torch.bincount(first, weights=w, minlength=self.k + 1)[: self.k]
        return counts.to(torch.float64).cumsum(0)


class _Buffers:
    """The buffer steps of every segment up to half-width ``half``, laid out once: for each segment
    and side the steps at distance ``1..half`` (``pos`` on the flat index ``row * T + t``, ``-1``
    past the series' ends), the unique buffer steps outside every true segment, and the running
    maximum of the scores outward from each segment (for the existence term)."""

    def __init__(self, seg: Segments, truth: Tensor, flat_scores: Tensor, half: int):
        rows, steps = truth.shape
        device = truth.device
        self.seg, self.half = seg, half
        base = seg.row * steps
        d = torch.arange(1, half + 1, device=device)
        self.d = d
        inside_max = torch.full((len(seg),), -math.inf, dtype=torch.float64, device=device)
        if len(seg):
            inside_max = segment_max(seg, flat_scores.reshape(rows, steps))
        self.inside_max = inside_max
        if half == 0 or not len(seg):
            self.out_max = torch.full((len(seg), 0), -math.inf, dtype=torch.float64, device=device)
            self.unique_pos = torch.zeros(0, dtype=torch.int64, device=device)
            self.inverse = torch.zeros(0, dtype=torch.int64, device=device)
            self.entry_d = torch.zeros(0, dtype=torch.int64, device=device)
            return
        after = (seg.end - 1)[:, None] + d[None, :]  # (S, H)
        before = seg.start[:, None] - d[None, :]
        flat_truth = truth.reshape(-1)
        side_max = []
        entries_pos, entries_d = [], []
        for pos in (after, before):
            ok = (pos >= 0) & (pos < steps)
            flat = torch.where(ok, base[:, None] + pos, torch.zeros_like(pos))
            vals = torch.where(ok, flat_scores[flat], torch.full_like(flat, -math.inf, dtype=torch.float64))
            side_max.append(torch.cummax(vals, dim=1).values)
            keep = ok & ~flat_truth[flat]  # steps of a true segment are true steps, not buffer
            entries_pos.append(flat[keep])
            entries_d.append(d.expand_as(pos)[keep])
        self.out_max = torch.maximum(side_max[0], side_max[1])  # (S, H): max over distance 1..h on both sides
        pos = torch.cat(entries_pos)
        self.entry_d = torch.cat(entries_d)
        self.unique_pos, self.inverse = torch.unique(pos, return_inverse=True)

    def soft_labels(self, window: int) -> Tensor:
        """Soft label of each unique buffer step at buffer ``window`` (capped at 1)."""
        h = window // 2
        out = torch.zeros(self.unique_pos.numel(), dtype=torch.float64, device=self.unique_pos.device)
        if h == 0 or not self.entry_d.numel():
            return out
        use = self.entry_d <= h
        value = torch.sqrt(1.0 - self.entry_d[use].to(torch.float64) / window)
        return out.index_add_(0, self.inverse[use], value).clamp_(max=1.0)

    def segment_max(self, h: int, touching_merges: bool) -> Tensor:
        """Largest score of each buffered segment at half-width ``h`` (merged as the module docstring says)."""
        seg = self.seg
        m = self.inside_max
        if h > 0:
            m = torch.maximum(m, self.out_max[:, h - 1])
        new = torch.ones(len(seg), dtype=torch.bool, device=m.device)
        if len(seg) > 1:
            gap = 1 if touching_merges else 0
            apart = (seg.end[:-1] - 1 + h + gap) < (seg.start[1:] - h)
            new[1:] = (seg.row[1:] != seg.row[:-1]) | apart
        group = new.cumsum(0) - 1
        g = int(group[-1]) + 1 if len(seg) else 0
        out = torch.full((g,), -math.inf, dtype=torch.float64, device=m.device)
        return out.scatter_reduce(0, group, m, reduce="amax")


def _prepare(scores, target, thresholds: int):
    s = as_rows(scores, "scores").to(torch.float64)
    t = as_binary(target, "target")
    if s.shape != t.shape:
        raise ConfigError(f"scores has shape {tuple(s.shape)} but target has {tuple(t.shape)}")
    check_range("thresholds", thresholds, 2, integer=True)
    if bool(torch.isnan(s).any()):
        raise ConfigError("scores contain NaN; VUS needs every step scored")
    flat = s.reshape(-1)
    return s, t, flat, _Ranked(flat, thresholds)


def _curves(ranked: _Ranked, buffers: _Buffers, flat_truth: Tensor, flat_scores: Tensor, windows) -> dict[str, Tensor]:
    """TPR, FPR and precision ``(W, K)`` of ``RangeAUC_volume_opt`` at each buffer of ``windows``."""
    n = flat_scores.numel()
    p = float(flat_truth.sum())
    true_first = ranked.first_flag(flat_scores[flat_truth])
    tp_true = ranked.flagged_mass(true_first)
    buf_first = ranked.first_flag(flat_scores[buffers.unique_pos])
    m = ranked.flagged
    tprs, fprs, precs = [], [], []
    for w in windows:  # one small pass over the buffer steps per buffer size
        b = ranked.flagged_mass(buf_first, buffers.soft_labels(w))
        tp = tp_true + b
        p_new = p + b / 2
        groups = buffers.segment_max(w // 2, touching_merges=False)
        existence = ranked.flagged_mass(ranked.first_flag(groups)) / max(groups.numel(), 1)
        tprs.append((tp / p_new).clamp(max=1.0) * existence)
        fprs.append((m - tp) / (n - p_new))
        precs.append(tp / m)
    return {"tpr": torch.stack(tprs), "fpr": torch.stack(fprs), "precision": torch.stack(precs)}


def _areas(tpr: Tensor, fpr: Tensor, precision: Tensor) -> tuple[Tensor, Tensor]:
    """ROC (trapezoid from (0, 0) to (1, 1)) and PR (right step from TPR 0) areas of ``(W, K)`` curves."""
    w = tpr.shape[0]
    zero, one = tpr.new_zeros(w, 1), tpr.new_ones(w, 1)
    t = torch.cat([zero, tpr, one], 1)
    f = torch.cat([zero, fpr, one], 1)
    roc = ((f[:, 1:] - f[:, :-1]) * (t[:, 1:] + t[:, :-1]) / 2).sum(1)
    pr = ((t[:, 1:-1] - t[:, :-2]) * precision).sum(1)
    return roc, pr


def range_auc_curves(scores, target, window: int, thresholds: int = 250) -> dict[str, Tensor]:
    """TPR, FPR and precision ``(K,)`` of Range-AUC with buffer ``window`` at each threshold (highest first)."""
    check_range("window", window, 0, integer=True)
    s, t, flat, ranked = _prepare(scores, target, thresholds)
    buffers = _Buffers(find_segments(t), t, flat, window // 2)
    c = _curves(ranked, buffers, t.reshape(-1), flat, [window])
    return {k: v[0] for k, v in c.items()}


def range_auc(scores, target, window: int, thresholds: int = 250) -> dict[str, float]:
    """Range-AUC-ROC and -PR with buffer ``window`` (``roc``, ``pr``): one slice of VUS, equal to the
    per-buffer areas of ``RangeAUC_volume_opt``."""
    c = range_auc_curves(scores, target, window, thresholds)
    roc, pr = _areas(c["tpr"][None], c["fpr"][None], c["precision"][None])
    return {"roc": float(roc[0]), "pr": float(pr[0])}


def vus(scores, target, window: int | None = None, thresholds: int = 250) -> dict[str, float]:
    """``vus_roc`` and ``vus_pr``: Range-AUC-ROC and -PR averaged over buffers ``0..window``
    (``window`` defaults to :func:`default_window`; TSB-AD's ``slidingWindow``); NaN with a warning
    without anomalous steps."""
    t = as_binary(target, "target")
    if not bool(t.any()):
        warnings.warn("VUS is undefined when the target has no anomalous step; returning NaN", stacklevel=2)
        return {"vus_roc": math.nan, "vus_pr": math.nan}
    window = default_window(t) if window is None else window
    check_range("vus window", window, 0, integer=True)
    s, t, flat, ranked = _prepare(scores, t, thresholds)
    buffers = _Buffers(find_segments(t), t, flat, window // 2)
    c = _curves(ranked, buffers, t.reshape(-1), flat, range(window + 1))
    roc, pr = _areas(c["tpr"], c["fpr"], c["precision"])
    return {"vus_roc": float(roc.mean()), "vus_pr": float(pr.mean())}


def range_auc_original(scores, target, window: int, thresholds: int = 250) -> dict[str, float]:
    """The single-buffer Range-AUC as the ``vus`` package's ``metricor().RangeAUC`` computes it
    (``R_AUC_ROC``, ``R_AUC_PR`` of ``vus.metrics.get_metrics``), kept under its own name because it
    is a different figure from the VUS slice :func:`range_auc`: ``P' = (P + all soft labels) / 2``
    stays fixed whether or not the buffer steps are flagged, the PR area is a trapezoid starting at
    precision 1, and touching buffers merge for the existence term. A perfect ranking may score
    below 1 here."""
    check_range("window", window, 0, integer=True)
    s, t, flat, ranked = _prepare(scores, target, thresholds)
    buffers = _Buffers(find_segments(t), t, flat, window // 2)
    flat_truth = t.reshape(-1)
    n, p = flat.numel(), float(flat_truth.sum())
    soft = buffers.soft_labels(window)
    p_new = (p + p + float(soft.sum())) / 2
    tp = ranked.flagged_mass(ranked.first_flag(flat[flat_truth])) + ranked.flagged_mass(
        ranked.first_flag(flat[buffers.unique_pos]), soft
    )
    groups = buffers.segment_max(window // 2, touching_merges=True)
    existence = ranked.flagged_mass(ranked.first_flag(groups)) / max(groups.numel(), 1)
    tpr = (tp / p_new).clamp(max=1.0) * existence
    fpr = (ranked.flagged - tp) / (n - p_new)
    precision = tp / ranked.flagged
    roc, _ = _areas(tpr[None], fpr[None], precision[None])
    t_ = torch.cat([tpr.new_zeros(1), tpr])
    prec = torch.cat([tpr.new_ones(1), precision])
    pr = ((t_[1:] - t_[:-1]) * (prec[1:] + prec[:-1]) / 2).sum()
    return {"roc": float(roc[0]), "pr": float(pr)}


def vus_of_flags(pred, target, window: int | None = None) -> dict[str, float]:
    """VUS ``vus_recall``, ``vus_precision`` and ``vus_f`` of binary flags, as TSB-AD's
    ``metric_VUS_pred`` defines them: at each buffer ``w = 0..window`` recall ``min(TP / P', 1)``
    (no existence term), precision ``TP / flagged`` and their F1, each averaged over the buffers.

    TSB-AD's loop overwrites its ``labels`` argument with the previous buffer's masked soft labels,
    so from the third buffer on a flagged buffer step carries the previous buffer's value into the
    next one; here each buffer starts from the true labels (the definition its docstring-less code
    intends, and what it computes whenever no buffer step is flagged)."""
    p_ = as_binary(pred, "pred")
    t = as_binary(target, "target")
    if p_.shape != t.shape:
        raise ConfigError(f"pred has shape {tuple(p_.shape)} but target has {tuple(t.shape)}")
    if not bool(t.any()):
        warnings.warn("VUS is undefined when the target has no anomalous step; returning NaN", stacklevel=2)
        return {"vus_recall": math.nan, "vus_precision": math.nan, "vus_f": math.nan}
    window = default_window(t) if window is None else window
    check_range("vus window", window, 0, integer=True)
    flat_flags = p_.reshape(-1)
    scores = flat_flags.to(torch.float64)
    buffers = _Buffers(find_segments(t), t, scores, window // 2)
    flat_truth = t.reshape(-1)
    p = float(flat_truth.sum())
    tp_true = float((flat_flags & flat_truth).sum())
    flagged = float(flat_flags.sum())
    buffer_flagged = flat_flags[buffers.unique_pos].to(torch.float64)
    recalls, precisions, fs = [], [], []
    for w in range(window + 1):
        b = float((buffers.soft_labels(w) * buffer_flagged).sum())
        tp = tp_true + b
        recall = min(tp / (p + b / 2), 1.0)
        precision = tp / flagged if flagged > 0 else 0.0
        recalls.append(recall)
        precisions.append(precision)
        fs.append(2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0)
    k = len(recalls)
    return {"vus_recall": sum(recalls) / k, "vus_precision": sum(precisions) / k, "vus_f": sum(fs) / k}
