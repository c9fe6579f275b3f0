"""One entry for every time-series detection figure: ``evaluate(scores or labels, targets)``.

Scores (a floating tensor) give the threshold-free figures (AUROC, AUPRC, VUS-ROC, VUS-PR,
``range_pr_auc``, ``precision_at_k`` / ``f_at_k`` with K = the number of anomalous steps, the best
point-wise, PA, event, range and affiliation F1 over thresholds: ``best_f1``, ``best_pa_f1``,
``best_event_f1``, ``best_range_f1``, ``best_affiliation_f1``) and, at ``threshold`` (a number, a
strategy of :mod:`anomaly_lab.metrics.thresholds` with ``threshold_value``, or, when none is given,
the best-F1 threshold, flagged in the result as ``threshold_is_oracle``), every figure of flags.
Flags (a bool or integer tensor, 1 = anomalous) give the figures of flags only:

- point-wise ``precision``, ``recall``, ``f1``;
- range-based ``range_precision``, ``range_recall``, ``range_f1`` (Tatbul et al. 2018);
- point-adjusted ``pa_precision``, ``pa_recall``, ``pa_f1`` and ``pa_k_f1`` (K = ``pa_k``),
  ``pa_k_auc`` (Kim et al. 2022);
- event-wise ``event_precision``, ``event_recall``, ``event_f1`` and ``composite_f1`` (Garg et al. 2022);
- affiliation ``affiliation_precision``, ``affiliation_recall``, ``affiliation_f1`` (Huet et al. 2022);
- VUS of flags ``vus_recall``, ``vus_precision``, ``vus_f`` (TSB-AD's ``metric_VUS_pred``);
- the seed's ``td``, ``tdir``, ``dair``, ``em``, ``da``, ``ma``, ``fa`` with range ``k`` (means over rows).

The TSB-AD headline set (Liu and Paparrizos, "The Elephant in the Room: Towards A Reliable Time-Series
Anomaly Detection Benchmark", NeurIPS 2024) is returned under TSB-AD's own names as well: ``AUC-PR``,
``AUC-ROC``, ``VUS-PR``, ``VUS-ROC`` (scores only) and ``Standard-F1``, ``PA-F1``, ``Event-based-F1``,
``R-based-F1``, ``Affiliation-F``. As in TSB-AD's ``get_metrics``, with scores and no threshold these
five are oracle searches (``Standard-F1`` over every threshold; the other four over TSB-AD's grid of
100 thresholds, ``score > t``); with a threshold or with flags they are the figures of the flags
(``R-based-F1``: recall existence weight 0.2, reciprocal cardinality, flat bias). They equal TSB-AD's
except where its code has a defect (tests say where) and ``Standard-F1``, which TSB-AD computes as
``2PR / (P + R + 1e-5)``, up to 5e-6 lower. VUS uses ``vus_window`` (TSB-AD passes its
``slidingWindow``, an estimate of the series' period that needs the data, not the labels).

Inputs are ``(T,)``, ``(B, T)`` (series are kept apart) or ``(B, T, C)``: channels are reduced
first (any channel anomalous; the largest score over channels).
"""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice
from anomaly_lab.metrics.affiliation import affiliation_prf
from anomaly_lab.metrics.event import event_scores
from anomaly_lab.metrics.point import point_prf
from anomaly_lab.metrics.point_adjusted import pa_k_auc, pa_scores
from anomaly_lab.metrics.range_based import range_pr_auc, range_prf
from anomaly_lab.metrics.ranking import auprc, auroc, best_f1, precision_at_k
from anomaly_lab.metrics.seed_eval import seed_scores
from anomaly_lab.metrics.segments import as_binary
from anomaly_lab.metrics.thresholds import (
    STRATEGIES,
    best_affiliation_f1,
    best_event_f1,
    best_pa_f1,
    best_range_f1,
    find_threshold,
)
from anomaly_lab.metrics.vus import vus, vus_of_flags

KINDS = ("auto", "scores", "labels")


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(x)


def _reduce_channels(x: Tensor, is_scores: bool) -> Tensor:
    if x.dim() == 3:
        return x.amax(-1) if is_scores else (x == 1).any(-1)
    return x


def label_metrics(
    pred,
    target,
    k: int = 3,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: str = "one",
    pa_k: float = 20.0,
    vus_window: int | None = None,
) -> dict[str, float]:
    """Every figure of binary flags (see the module docstring), TSB-AD's names included."""
    out: dict[str, float] = {}
    out.update(point_prf(pred, target))
    out.update({f"range_{n}": v for n, v in range_prf(pred, target, alpha, bias, cardinality).items()})
    out.update({f"pa_{n}": v for n, v in pa_scores(pred, target, 0.0).items()})
    out["pa_k_f1"] = pa_scores(pred, target, pa_k)["f1"]
    out["pa_k_auc"] = pa_k_auc(pred, target)
    out.update(event_scores(pred, target))
    out.update(seed_scores(pred, target, k))
    if bool(as_binary(target, "target").any()):
        out.update({f"affiliation_{n}": v for n, v in affiliation_prf(pred, target).items()})
        out.update(vus_of_flags(pred, target, vus_window))
    else:
        nan = float("nan")
        out.update({"affiliation_precision": nan, "affiliation_recall": nan, "affiliation_f1": nan})
        out.update({"vus_recall": nan, "vus_precision": nan, "vus_f": nan})
    out["Standard-F1"] = out["f1"]
    out["PA-F1"] = out["pa_f1"]
    out["Event-based-F1"] = out["composite_f1"]
    out["R-based-F1"] = range_prf(pred, target, 0.2, "flat", "reciprocal")["f1"]
    out["Affiliation-F"] = out["affiliation_f1"]
    return out


def evaluate(
    prediction,
    target,
    *,
    kind: str = "auto",
    threshold: float | str | None = None,
    threshold_value: float | None = None,
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
        threshold: scores at or above it are flagged; a strategy name (``fixed``, ``percentile``,
            ``top_k_points``, ``top_k_ranges``, ``k_sigma``) with its ``threshold_value``; None uses the
            best-F1 threshold (an oracle).
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
    if isinstance(threshold, str):
        check_choice("threshold strategy", threshold, STRATEGIES)
        if not is_scores:
            raise ConfigError(f"threshold={threshold!r} needs scores, but the prediction holds flags")
    out: dict[str, float] = {}
    if is_scores:
        scores = pred.to(torch.float64)
        if isinstance(threshold, str):
            threshold = find_threshold(scores, tgt, threshold, threshold_value)
        out["auroc"] = auroc(scores, tgt)
        out["auprc"] = auprc(scores, tgt)
        out.update(vus(scores, tgt, vus_window, vus_thresholds))
        best = best_f1(scores, tgt)
        out["best_f1"] = best["f1"]
        out["best_f1_threshold"] = best["threshold"]
        defined = bool(as_binary(tgt, "target").any())
        out.update(_score_searches(scores, tgt) if defined else {})
        out["threshold_is_oracle"] = float(threshold is None)
        out["threshold"] = best["threshold"] if threshold is None else float(threshold)
        flags = scores >= out["threshold"]
    else:
        flags = pred == 1 if pred.dtype != torch.bool else pred
    out.update(label_metrics(flags, tgt, k, alpha, bias, cardinality, pa_k, vus_window))
    if is_scores:
        out["AUC-PR"], out["AUC-ROC"] = out["auprc"], out["auroc"]
        out["VUS-PR"], out["VUS-ROC"] = out["vus_pr"], out["vus_roc"]
        if threshold is None and "best_pa_f1" in out:  # TSB-AD's get_metrics without pred: oracle searches
            out["Standard-F1"] = out["best_f1"]
            out["PA-F1"] = out["best_pa_f1_tsb_ad"]
            out["Event-based-F1"] = out["best_event_f1_tsb_ad"]
            out["R-based-F1"] = out["best_range_f1_tsb_ad"]
            out["Affiliation-F"] = out["best_affiliation_f1_tsb_ad"]
    return out


def _score_searches(scores, target) -> dict[str, float]:
    """Threshold-free figures of scores beyond the ranking ones: P@K, F@K, the range PR area and the
    best event-aware F1s (exact over every threshold, and on TSB-AD's grid for its headline names)."""
    out: dict[str, float] = {}
    at_k = precision_at_k(scores, target)
    out["precision_at_k"], out["f_at_k"] = at_k["precision"], at_k["f1"]
    out["range_pr_auc"] = range_pr_auc(scores, target)
    out["best_pa_f1"] = best_pa_f1(scores, target)["f1"]
    out["best_event_f1"] = best_event_f1(scores, target)["f1"]
    out["best_pa_f1_tsb_ad"] = best_pa_f1(scores, target, "tsb_ad")["f1"]
    out["best_event_f1_tsb_ad"] = best_event_f1(scores, target, "tsb_ad")["f1"]
    out["best_range_f1_tsb_ad"] = best_range_f1(scores, target, "tsb_ad")["f1"]
    out["best_affiliation_f1_tsb_ad"] = best_affiliation_f1(scores, target, "tsb_ad")["f1"]
    return out
