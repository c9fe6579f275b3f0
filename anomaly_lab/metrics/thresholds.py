"""Turning scores into flags: TimeEval's threshold strategies, and best-threshold (oracle) searches
for the event-aware F-scores.

Strategies (Wenig, Schmidl, Papenbrock, "TimeEval: A Benchmarking Toolkit for Time Series Anomaly
Detection Algorithms", PVLDB 15(12), 2022; ``timeeval.metrics.thresholding``), a step flagged when
``score >= threshold``:

- ``fixed``: the given value;
- ``percentile``: the ``value``-th percentile of the scores (linear interpolation, numpy's default);
- ``top_k_points``: the ``(1 - k / n) * 100``-th percentile, ``k`` the number of anomalous steps
  unless given (about ``k`` steps flagged);
- ``top_k_ranges``: going down the distinct scores from the highest, the first threshold that gives
  at least ``k`` flagged ranges (``k`` the number of true ranges unless given); never the lowest
  score (that flags everything), the second lowest when none reaches ``k``;
- ``k_sigma``: ``mean + value * std`` of the scores (population std).

Best-threshold searches return the highest F over a set of candidate thresholds together with that
threshold. They are oracle figures (the threshold is chosen on the labels it is scored on), as
TSB-AD reports them. ``candidates="tsb_ad"`` uses TSB-AD's grid, 100 thresholds evenly spaced from the
lowest to the highest score with ``score > threshold`` flagged (what its PA-F1, Event-based-F1,
R-based-F1 and Affiliation-F do); ``candidates="all"`` tries every distinct score with ``>=`` (exact;
vectorised for PA-F1 and event F1, a loop over thresholds for the range and affiliation F).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.affiliation import affiliation_prf
from anomaly_lab.metrics.range_based import range_prf
from anomaly_lab.metrics.ranking import scores_and_labels
from anomaly_lab.metrics.segments import as_binary, as_rows, find_segments, segment_max

STRATEGIES = ("fixed", "percentile", "top_k_points", "top_k_ranges", "k_sigma")
CANDIDATES = ("tsb_ad", "all")


def _count_ranges(scores: Tensor, thresholds: Tensor) -> Tensor:
    """Number of flagged ranges (``score >= t``) of ``scores`` ``(B, T)`` at each threshold ``t``: a range
    starts at step i when ``s_i >= t > s_{i-1}`` (``s_{-1} = -inf`` at each row's start)."""
    prev = torch.nn.functional.pad(scores, (1, 0), value=-math.inf)[:, :-1]
    pair_min = torch.minimum(prev, scores).reshape(-1).sort().values
    single = scores.reshape(-1).sort().values
    above = single.numel() - torch.searchsorted(single, thresholds, right=False)
    both = pair_min.numel() - torch.searchsorted(pair_min, thresholds, right=False)
    return above - both


def find_threshold(scores, target=None, strategy: str = "fixed", value: float | None = None) -> float:
    """The threshold of ``strategy`` (see the module docstring); ``value`` is the fixed threshold, the
    percentile, ``k`` (None: from ``target``) or the number of standard deviations."""
    check_choice("strategy", strategy, STRATEGIES)
    s = as_rows(scores, "scores").to(torch.float64)
    flat = s.reshape(-1)
    n = flat.numel()
    if strategy == "fixed":
        if value is None:
            raise ConfigError("strategy='fixed' needs a value (the threshold)")
        return float(value)
    if strategy == "percentile":
        q = check_range("percentile", 90.0 if value is None else value, 0.0, 100.0)
        return float(torch.quantile(flat, q / 100.0))
    if strategy == "k_sigma":
        factor = 3.0 if value is None else float(value)
        return float(flat.mean() + factor * flat.std(correction=0))
    if value is None and target is None:
        raise ConfigError(f"strategy={strategy!r} needs k (value) or the target to count it from")
    t = None if target is None else as_binary(target, "target")
    if strategy == "top_k_points":
        k = float(t.sum()) if value is None else check_range("k", value, 1)
        return float(torch.quantile(flat, min(max(1.0 - k / n, 0.0), 1.0)))
    k = len(find_segments(t)) if value is None else check_range("k", value, 1, integer=True)
    distinct = torch.unique(flat).flip(0)  # highest first
    if distinct.numel() <= 2:
        return float(distinct[0])
    inner = distinct[1:-1]
    reached = torch.nonzero(_count_ranges(s, inner) >= k)
    return float(inner[reached[0, 0]] if reached.numel() else inner[-1])


def apply_threshold(scores, threshold: float) -> Tensor:
    """Flags ``score >= threshold`` (bool, the shape of ``scores``)."""
    s = scores if isinstance(scores, Tensor) else torch.as_tensor(scores)
    return s >= threshold


def _candidates(flat: Tensor, candidates: str) -> tuple[Tensor, bool]:
    """Candidate thresholds and whether the flag is ``score > t`` (TSB-AD) or ``score >= t``."""
    check_choice("candidates", candidates, CANDIDATES)
    if candidates == "tsb_ad":
        import numpy as np

        grid = np.linspace(float(flat.min()), float(flat.max()), 100)
        return torch.as_tensor(grid, dtype=torch.float64, device=flat.device), True
    return torch.unique(flat).flip(0), False


def _segment_hits(s: Tensor, t: Tensor, thr: Tensor, strict: bool) -> tuple[Tensor, Tensor]:
    """For each threshold: which true segments hold a flagged step ``(K, S)`` and the segment lengths."""
    seg = find_segments(t)
    peak = segment_max(seg, s) if len(seg) else s.new_zeros(0)
    hit = peak[None, :] > thr[:, None] if strict else peak[None, :] >= thr[:, None]
    return hit, seg.length.to(torch.float64)


def _flag_counts(flat: Tensor, y: Tensor, thr: Tensor, strict: bool) -> tuple[Tensor, Tensor]:
    """True and false positive step counts at each threshold."""
    pos = flat[y].sort().values
    neg = flat[~y].sort().values
    side = strict  # count of values > t is n - searchsorted(right=True); >= t uses right=False
    tp = pos.numel() - torch.searchsorted(pos, thr, right=side)
    fp = neg.numel() - torch.searchsorted(neg, thr, right=side)
    return tp.to(torch.float64), fp.to(torch.float64)


def _best(f: Tensor, thr: Tensor, extra: dict[str, Tensor]) -> dict[str, float]:
    f = torch.nan_to_num(f, nan=-1.0)
    k = int(torch.argmax(f))
    out = {"f1": max(float(f[k]), 0.0), "threshold": float(thr[k])}
    out.update({name: float(v[k]) for name, v in extra.items()})
    return out


def _prepare(scores, target):
    s = as_rows(scores, "scores").to(torch.float64)
    t = as_binary(target, "target")
    if s.shape != t.shape:
        raise ConfigError(f"scores has shape {tuple(s.shape)} but target has {tuple(t.shape)}")
    flat, y = scores_and_labels(s, t)
    return s, t, flat, y


def best_pa_f1(scores, target, candidates: str = "all") -> dict[str, float]:
    """Best point-adjusted F1 (Xu et al. 2018) over the candidate thresholds, all at once: a true segment
    with any flagged step counts whole."""
    s, t, flat, y = _prepare(scores, target)
    thr, strict = _candidates(flat, candidates)
    hit, length = _segment_hits(s, t, thr, strict)
    tp = (hit.to(torch.float64) * length[None, :]).sum(1)
    _, fp = _flag_counts(flat, y, thr, strict)
    pos = float(y.sum())
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    recall = tp / pos if pos > 0 else torch.zeros_like(tp)
    f = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-300), 0 * tp)
    return _best(f, thr, {"precision": precision, "recall": recall})


def best_event_f1(scores, target, candidates: str = "all") -> dict[str, float]:
    """Best event-based F1 as TSB-AD defines it (its ``Event-based-F1``, the composite F of Garg et al.
    2022): the harmonic mean of the point-wise precision and the share of true segments with a flagged
    step."""
    s, t, flat, y = _prepare(scores, target)
    thr, strict = _candidates(flat, candidates)
    hit, _ = _segment_hits(s, t, thr, strict)
    recall = hit.to(torch.float64).mean(1) if hit.shape[1] else torch.zeros(thr.numel(), dtype=torch.float64)
    tp, fp = _flag_counts(flat, y, thr, strict)
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    f = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-300), 0 * tp)
    return _best(f, thr, {"precision": precision, "recall": recall})


def _best_by_loop(scores, target, candidates: str, score_flags) -> dict[str, float]:
    s, t, flat, _ = _prepare(scores, target)
    thr, strict = _candidates(flat, candidates)
    best = {"f1": -1.0}
    for v in thr.tolist():  # each threshold's figure is itself vectorised over ranges / cells
        r = score_flags(s > v if strict else s >= v, t)
        if r["f1"] > best["f1"]:
            best = {**r, "threshold": v}
    return best


def best_range_f1(
    scores, target, candidates: str = "all", alpha: float = 0.2, bias: str = "flat", cardinality: str = "reciprocal"
) -> dict[str, float]:
    """Best range-based F1 (Tatbul et al. 2018); the defaults are TSB-AD's ``R-based-F1``: recall with
    existence weight 0.2, precision without, flat bias, reciprocal cardinality."""

    return _best_by_loop(scores, target, candidates, lambda flags, t: range_prf(flags, t, alpha, bias, cardinality))


def best_affiliation_f1(scores, target, candidates: str = "all") -> dict[str, float]:
    """Best affiliation F1 (Huet et al. 2022; TSB-AD's ``Affiliation-F``) over the candidate thresholds;
    a threshold that flags nothing scores 0."""
    return _best_by_loop(scores, target, candidates, affiliation_prf)


__all__ = [
    "apply_threshold",
    "best_affiliation_f1",
    "best_event_f1",
    "best_pa_f1",
    "best_range_f1",
    "find_threshold",
]
