"""Point-adjusted F1 and PA%K.

Point adjustment (Xu et al., "Unsupervised Anomaly Detection via Variational Auto-Encoder for
Seasonal KPIs in Web Applications", WWW 2018): when any step of a true anomaly segment is flagged,
every step of that segment counts as detected. It is known to inflate scores (a single lucky flag
per segment suffices), so report it beside the unadjusted figures.

PA%K (Kim et al., "Towards a Rigorous Evaluation of Time-Series Anomaly Detection", AAAI 2022):
adjust a segment only when the share of its steps that were flagged exceeds K%. K = 0 is point
adjustment, K = 100 leaves the flags as they are (point-wise F1). ``pa_k_auc`` is the area under
F1 as a function of K/100 over K = 0, 1, ..., 100 (trapezoidal), the summary the paper proposes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.ranking import f1_of
from anomaly_lab.metrics.segments import as_binary, find_segments, run_ids, segment_counts


def adjust(pred, target, k: float = 0.0) -> Tensor:
    """The flags after PA%K adjustment, bool ``(B, T)``: every true segment whose flagged share
    exceeds ``k`` percent becomes fully flagged."""
    check_range("k", k, 0.0, 100.0)
    p, t = as_binary(pred, "pred"), as_binary(target, "target")
    if p.shape != t.shape:
        raise ConfigError(f"pred has shape {tuple(p.shape)} but target has {tuple(t.shape)}")
    seg = find_segments(t)
    if not len(seg):
        return p.clone()
    share = segment_counts(seg, p).to(torch.float64) / seg.length.to(torch.float64)
    lifted = share > k / 100.0
    ids = run_ids(seg, t.shape[0])
    inside = ids >= 0
    up = torch.zeros_like(p)
    up[inside] = lifted[ids[inside]]
    return p | up


def _prf(tp: Tensor, fp: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(pos > 0, tp / pos.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-300), torch.zeros_like(tp)
    )
    return precision, recall, f1


def pa_f1_curve(pred, target, ks: Tensor | None = None) -> dict[str, Tensor]:
    """Precision, recall and F1 after PA%K for every K of ``ks`` (default 0..100), all at once:
    adjusting adds each lifted segment's unflagged steps to the true positives."""
    p, t = as_binary(pred, "pred"), as_binary(target, "target")
    if p.shape != t.shape:
        raise ConfigError(f"pred has shape {tuple(p.shape)} but target has {tuple(t.shape)}")
    f = torch.float64
    if ks is None:
        ks = torch.arange(0, 101, dtype=f, device=p.device)
    seg = find_segments(t)
    tp0 = (p & t).sum().to(f)
    fp = (p & ~t).sum().to(f)
    pos = t.sum().to(f)
    hits = segment_counts(seg, p).to(f)
    share = hits / seg.length.to(f)
    missing = seg.length.to(f) - hits
    lifted = share[None, :] > ks[:, None] / 100.0  # (K, S)
    tp = tp0 + (lifted.to(f) * missing[None, :]).sum(1)
    precision, recall, f1 = _prf(tp, fp.expand_as(tp), pos.expand_as(tp))
    return {"k": ks, "precision": precision, "recall": recall, "f1": f1}


def pa_scores(pred, target, k: float = 0.0) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` after PA%K with this ``k`` (0: plain point adjustment)."""
    check_range("k", k, 0.0, 100.0)
    curve = pa_f1_curve(pred, target, torch.tensor([float(k)], dtype=torch.float64))
    return {name: float(curve[name][0]) for name in ("precision", "recall", "f1")}


def pa_k_auc(pred, target) -> float:
    """Area under PA%K's F1 over K = 0..100 (K as a fraction), trapezoidal."""
    curve = pa_f1_curve(pred, target)
    return float(torch.trapezoid(curve["f1"], curve["k"] / 100.0))


__all__ = ["adjust", "pa_f1_curve", "pa_scores", "pa_k_auc", "f1_of"]
