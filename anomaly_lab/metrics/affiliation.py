"""Affiliation precision and recall (Huet, Navarro, Rossi, "Local Evaluation of Time Series Anomaly
Detection Algorithms", KDD 2022).

A flagged step ``i`` is the interval ``[i, i + 1)``. Each true event ``J`` owns an affiliation zone
``E``: the part of the series closer to ``J`` than to any other true event (zone borders are the
midpoints between events; the first and last zones reach the ends of the series). Inside a zone:

- precision: for each predicted point ``x`` in ``E``, ``Fbar(dist(x, J))``, the probability that a
  point drawn uniformly from ``E`` lies at least as far from ``J``; averaged over the zone's
  predicted points. Zones without prediction are left out of the mean over zones;
- recall: for each point ``y`` of ``J``, with ``D`` its distance to the nearest predicted point
  inside ``E``, ``P(|X - y| >= D)`` for ``X`` uniform on ``E``; averaged over ``J``, 0 for a zone
  without prediction. The recall is the mean over all zones.

Both integrands are piecewise linear with breaks on multiples of 1/4 (zone borders are multiples of
1/2, and the recall's breaks sit half-way between a zone border and a prediction's end), so the
midpoint rule on cells of width 1/4 is exact: the figures are computed on ``4 n`` cells with tensor
ops, no loop over events. They equal the authors' code (the ``affiliation`` package as vendored in
TSB-AD, ``pr_from_events``), which the tests check on random cases and on the paper's examples.

Departures, where the reference raises or returns NaN: without any prediction the precision is 0
(the reference gives NaN); a target without events gives NaN with a warning. Rows of ``(B, T)``
are separate series; their zones are pooled in the two means.
"""

from __future__ import annotations

import math
import warnings

import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.ranking import f1_of
from anomaly_lab.metrics.segments import as_binary, find_segments

CELLS = 4  # cells per step: the integrands are linear on each quarter step


def _nearest_flag(flags: torch.Tensor, forward: bool) -> torch.Tensor:
    """``(B, T)`` index of the nearest flagged step at or before (``forward=False``) or at or after
    each step, -1 / T where there is none."""
    b, t = flags.shape
    idx = torch.arange(t, device=flags.device).expand(b, t)
    if not forward:
        marked = torch.where(flags, idx, torch.full_like(idx, -1))
        return torch.cummax(marked, dim=1).values
    marked = torch.where(flags, idx, torch.full_like(idx, t))
    return torch.cummin(marked.flip(1), dim=1).values.flip(1)


def affiliation_prf(pred, target) -> dict[str, float]:
    """Affiliation ``precision``, ``recall`` and ``f1`` of binary flags ``(T,)`` or ``(B, T)``."""
    p, g = as_binary(pred, "pred"), as_binary(target, "target")
    if p.shape != g.shape:
        raise ConfigError(f"pred has shape {tuple(p.shape)} but target has {tuple(g.shape)}")
    seg = find_segments(g)
    if not len(seg):
        warnings.warn("affiliation metrics are undefined without a true event; returning NaN", stacklevel=2)
        return {"precision": math.nan, "recall": math.nan, "f1": math.nan}
    rows, steps = g.shape
    f = torch.float64
    dev = g.device
    # zones: [left, right) around each event, in the row's own coordinates
    start, end = seg.start.to(f), seg.end.to(f)
    same_row_prev = torch.zeros(len(seg), dtype=torch.bool, device=dev)
    same_row_prev[1:] = seg.row[1:] == seg.row[:-1]
    left = torch.zeros(len(seg), dtype=f, device=dev)
    left[1:] = (end[:-1] + start[1:]) / 2
    left = torch.where(same_row_prev, left, torch.zeros_like(left))
    same_row_next = torch.zeros_like(same_row_prev)
    same_row_next[:-1] = same_row_prev[1:]
    right = torch.full((len(seg),), float(steps), dtype=f, device=dev)
    right[:-1] = (end[:-1] + start[1:]) / 2
    right = torch.where(same_row_next, right, torch.full_like(right, float(steps)))
    width = right - left

    # cells: centre x (row coordinates) and the zone each falls in
    cell = torch.arange(steps * CELLS, device=dev)
    x = (cell.to(f) + 0.5) / CELLS  # (T*4,)
    step_of = cell // CELLS
    g_left = seg.row.to(f) * steps + left  # zone starts on one line, rows one after another
    line = torch.arange(rows, device=dev, dtype=f)[:, None] * steps + x[None, :]  # (B, T*4)
    zone = torch.searchsorted(g_left.contiguous(), line.reshape(-1).contiguous(), right=True) - 1
    zone = zone.reshape(rows, -1)
    row_ok = (zone >= 0) & (seg.row[zone.clamp(min=0)] == torch.arange(rows, device=dev)[:, None])
    z = zone.clamp(min=0)
    xs = x.expand(rows, -1)

    # precision: predicted cells, Fbar of their distance to the zone's event
    flagged = p[:, step_of] & row_ok
    s_j, e_j, l_j, r_j, w_j = start[z], end[z], left[z], right[z], width[z]
    d = torch.clamp(torch.maximum(s_j - xs, xs - e_j), min=0.0)
    fbar = (torch.clamp(s_j - l_j - d, min=0.0) + torch.clamp(r_j - e_j - d, min=0.0)) / w_j
    fbar = torch.where(d > 0, fbar, torch.ones_like(fbar))
    n_zone = len(seg)
    count = torch.zeros(n_zone, dtype=f, device=dev).index_add_(0, z[flagged], torch.ones_like(fbar[flagged]))
    mass = torch.zeros(n_zone, dtype=f, device=dev).index_add_(0, z[flagged], fbar[flagged])
    has_pred = count > 0
    precision = float((mass[has_pred] / count[has_pred]).mean()) if bool(has_pred.any()) else 0.0

    # recall: cells of each event, the distance to the nearest prediction inside its zone
    truth = g[:, step_of] & row_ok
    before = _nearest_flag(p, forward=False)[:, step_of]  # last flagged step at or before
    after = _nearest_flag(p, forward=True)[:, step_of]
    here = p[:, step_of]
    prev_end = (before + 1).to(f)
    next_start = after.to(f)
    left_ok = (before >= 0) & (prev_end > l_j)  # an interval touching the zone border is not in the zone
    right_ok = (after < steps) & (next_start < r_j)
    inf = torch.full_like(xs, math.inf)
    dist = torch.minimum(torch.where(left_ok, xs - prev_end, inf), torch.where(right_ok, next_start - xs, inf))
    dist = torch.where(here, torch.zeros_like(dist), dist)
    covered = torch.clamp(torch.minimum(xs + dist, r_j) - torch.maximum(xs - dist, l_j), min=0.0)
    prob = torch.where(torch.isinf(dist), torch.zeros_like(dist), 1.0 - covered / w_j)
    cells = torch.zeros(n_zone, dtype=f, device=dev).index_add_(0, z[truth], torch.ones_like(prob[truth]))
    rec = torch.zeros(n_zone, dtype=f, device=dev).index_add_(0, z[truth], prob[truth])
    per_zone = torch.where(has_pred, rec / cells, torch.zeros_like(rec))
    recall = float(per_zone.mean())
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}
