"""One entry for every time-series detection figure: ``evaluate(scores or labels, targets)``.

Scores (a floating tensor) give the threshold-free figures (AUROC, AUPRC, VUS-ROC, VUS-PR, the
best point-wise F1 over thresholds) and, at ``threshold`` (or, when none is given, at the best-F1
threshold, flagged in the result as ``threshold_is_oracle``), every figure of flags. Flags (a bool
or integer tensor, 1 = anomalous) give the figures of flags only:

- point-wise ``precision``, ``recall``, ``f1``;
- range-based ``range_precision``, ``range_recall``, ``range_f1`` (Tatbul et al. 2018);
- point-adjusted ``pa_precision``, ``pa_recall``, ``pa_f1`` and ``pa_k_f1`` (K = ``pa_k``),
  ``pa_k_auc`` (Kim et al. 2022);
- event-wise ``event_precision``, ``event_recall``, ``event_f1`` and ``composite_f1`` (Garg et al. 2022);
- the seed's ``td``, ``tdir``, ``dair``, ``em``, ``da``, ``ma``, ``fa`` with range ``k`` (means over rows).

Inputs are ``(T,)``, ``(B, T)`` (series are kept apart) or ``(B, T, C)``: channels are reduced
first (any channel anomalous; the largest score over channels).
"""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice
from anomaly_lab.metrics.event import event_scores
from anomaly_lab.metrics.point import point_prf
from anomaly_lab.metrics.point_adjusted import pa_k_auc, pa_scores
from anomaly_lab.metrics.range_based import range_prf
from anomaly_lab.metrics.ranking import auprc, auroc, best_f1
from anomaly_lab.metrics.seed_eval import seed_scores
from anomaly_lab.metrics.vus import vus

KINDS = ("auto", "scores", "labels")


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(x)


def _reduce_channels(x: Tensor, is_scores: bool) -> Tensor:
    if x.dim() == 3:
        return x.amax(-1) if is_scores else (x == 1).any(-1)
    return x


def label_metrics(
    pred, target, k: int = 3, alpha: float = 0.0, bias: str = "flat", cardinality: str = "one", pa_k: float = 20.0
) -> dict[str, float]:
    """Every figure of binary flags (see the module docstring)."""
    out: dict[str, float] = {}
    out.update(point_prf(pred, target))
    out.update({f"range_{n}": v for n, v in range_prf(pred, target, alpha, bias, cardinality).items()})
    out.update({f"pa_{n}": v for n, v in pa_scores(pred, target, 0.0).items()})
    out["pa_k_f1"] = pa_scores(pred, target, pa_k)["f1"]
    out["pa_k_auc"] = pa_k_auc(pred, target)
    out.update(event_scores(pred, target))
    out.update(seed_scores(pred, target, k))
    return out


def evaluate(
    prediction,
    target,
    *,
    kind: str = "auto",
    threshold: float | None = None,
    k: int = 3,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: str = "one",
    pa_k: float = 20.0,
    vus_window: int | None = None,
    vus_thresholds: int = 250,
) -> dict[str, float]:
    """All figures of ``prediction`` (scores or flags) against the 0/1 ``target``, as a flat dict.

    Args:
        kind: ``auto`` (floating = scores, bool/integer = flags), ``scores`` or ``labels``.
        threshold: scores at or above it are flagged; None uses the best-F1 threshold (an oracle).
        k: the seed's detection range for TDIR/DAIR. alpha, bias, cardinality: range-based options.
        pa_k: K (percent) of ``pa_k_f1``. vus_window: the largest VUS buffer (None: median event length).
    """
    check_choice("kind", kind, KINDS)
    pred, tgt = _as_tensor(prediction), _as_tensor(target)
    is_scores = pred.is_floating_point() if kind == "auto" else kind == "scores"
    pred = _reduce_channels(pred, is_scores)
    tgt = _reduce_channels(tgt, False)
    if pred.shape != tgt.shape:
        raise ConfigError(
            f"prediction has shape {tuple(pred.shape)} but target has {tuple(tgt.shape)}; they must match"
        )
    out: dict[str, float] = {}
    if is_scores:
        scores = pred.to(torch.float64)
        out["auroc"] = auroc(scores, tgt)
        out["auprc"] = auprc(scores, tgt)
        out.update(vus(scores, tgt, vus_window, vus_thresholds))
        best = best_f1(scores, tgt)
        out["best_f1"] = best["f1"]
        out["best_f1_threshold"] = best["threshold"]
        out["threshold_is_oracle"] = float(threshold is None)
        out["threshold"] = best["threshold"] if threshold is None else float(threshold)
        flags = scores >= out["threshold"]
    else:
        flags = pred == 1 if pred.dtype != torch.bool else pred
    out.update(label_metrics(flags, tgt, k, alpha, bias, cardinality, pa_k))
    return out
