"""Event-wise (segment-wise) detection figures.

- ``event_recall``: the share of true anomaly segments with at least one flagged step;
- ``event_precision``: the share of flagged segments that touch a true segment;
- ``event_f1``: their harmonic mean (each event counts once, whatever its length);
- ``composite_f1``: the composite F-score of Garg et al., "An Evaluation of Anomaly Detection and
  Diagnosis in Multivariate Time Series", IEEE TNNLS 33(6), 2022: the harmonic mean of the
  point-wise precision and the event-wise recall.

Ratios with an empty denominator are 0.
"""

from __future__ import annotations

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.point import point_prf
from anomaly_lab.metrics.ranking import f1_of
from anomaly_lab.metrics.segments import as_binary, find_segments, segment_counts


def event_scores(pred, target) -> dict[str, float]:
    """``event_precision``, ``event_recall``, ``event_f1`` and ``composite_f1`` of binary flags
    ``(T,)`` or ``(B, T)``."""
    p, t = as_binary(pred, "pred"), as_binary(target, "target")
    if p.shape != t.shape:
        raise ConfigError(f"pred has shape {tuple(p.shape)} but target has {tuple(t.shape)}")
    true_seg, pred_seg = find_segments(t), find_segments(p)
    found = segment_counts(true_seg, p) > 0
    touching = segment_counts(pred_seg, t) > 0
    recall = float(found.double().mean()) if len(true_seg) else 0.0
    precision = float(touching.double().mean()) if len(pred_seg) else 0.0
    point_precision = point_prf(p, t)["precision"]
    return {
        "event_precision": precision,
        "event_recall": recall,
        "event_f1": f1_of(precision, recall),
        "composite_f1": f1_of(point_precision, recall),
    }
