"""The seed's evaluation (AnomalyGenerator's ``eval`` task): temporal distance and the counting method.

Metrics from Kovacs, Sebestyen and Hangan, "Evaluation metrics for anomaly detection algorithms in
time-series", Acta Univ. Sapientiae, Informatica 11(2), 2019. Per row, with ``t`` the target and
``c`` the candidate (a value counts only when it equals 1):

- TD (temporal distance): over the target's 1s, the distance to the nearest candidate 1, plus over
  the candidate's 1s, the distance to the nearest target 1; with no 1 on the other side a term
  costs the row length.
- Counting method with range ``k``: at each step ``i`` with ``t_i = 1``: EM (exact match) if
  ``c_i = 1``, else DA (detected anomaly) if some ``c_j = 1`` with ``max(0, i-k) <= j <= i+k``,
  else MA (missed anomaly); at each step with ``t_i != 1`` and ``c_i = 1``: FA (false anomaly).
- TDIR = (EM + DA) / (EM + DA + MA), DAIR = (EM + DA) / (EM + DA + FA).

All rows are computed at once on padded tensors. :func:`seed_evaluate` returns the seed's
``evalresults.json`` dict with the seed's numbers on every input it accepted; rows it crashed on
are defined here: a zero denominator gives NaN with a warning (averages then skip it), and rows
of different lengths are a clear error.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError

SEED_KEYS = (
    "td",
    "tdir",
    "dair",
    "exact_match",
    "detected_anomaly",
    "missed_anomaly",
    "false_anomaly",
    "average_td",
    "average_tdir",
    "average_dair",
    "average_em",
    "average_da",
    "average_ma",
    "average_fa",
)


def _nearest_distance(source: Tensor, other: Tensor, lengths: Tensor) -> Tensor:
    """Per row, the sum over steps where ``source`` is True of the distance to the nearest True of
    ``other`` (the row length when ``other`` has none). ``source``/``other`` ``(B, T)`` bool."""
    b, t = other.shape
    pos = torch.arange(t, dtype=torch.int64, device=other.device).expand(b, t)
    big = 4 * (t + 1)
    prev = torch.where(other, pos, torch.full_like(pos, -big)).cummax(1).values
    nxt = torch.where(other, pos, torch.full_like(pos, 2 * big)).flip(1).cummin(1).values.flip(1)
    dist = torch.minimum(pos - prev, nxt - pos)
    none = ~other.any(1, keepdim=True)
    dist = torch.where(none, lengths[:, None].expand(b, t), dist)
    return torch.where(source, dist, torch.zeros_like(dist)).sum(1)


def temporal_distance(target: Tensor, candidate: Tensor, lengths: Tensor | None = None) -> Tensor:
    """TD per row, ``(B,)`` int64, of bool ``(B, T)`` rows (padding beyond ``lengths`` must be False)."""
    if lengths is None:
        lengths = torch.full((target.shape[0],), target.shape[1], dtype=torch.int64, device=target.device)
    return _nearest_distance(target, candidate, lengths) + _nearest_distance(candidate, target, lengths)


def counting_method(target: Tensor, candidate: Tensor, k: int) -> dict[str, Tensor]:
    """EM, DA, MA, FA per row, ``(B,)`` int64 each, of bool ``(B, T)`` rows with range ``k >= 0``."""
    b, t = target.shape
    csum = torch.nn.functional.pad(candidate.to(torch.int64).cumsum(1), (1, 0))  # (B, T+1)
    pos = torch.arange(t, dtype=torch.int64, device=target.device)
    lo = (pos - k).clamp(min=0)
    hi = (pos + k + 1).clamp(max=t)
    near = (csum[:, hi] - csum[:, lo]) > 0
    em = target & candidate
    da = target & ~candidate & near
    ma = target & ~candidate & ~near
    fa = ~target & candidate
    return {name: m.sum(1) for name, m in (("em", em), ("da", da), ("ma", ma), ("fa", fa))}


def _rows(values, name: str) -> list[list]:
    if not isinstance(values, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in values):
        raise ConfigError(f"'{name}' must be a list of rows (lists of 0/1 values); got {type(values).__name__}")
    for i, r in enumerate(values):  # a loop over the rows of a JSON file
        # numbers only; as in the seed, a value other than 1 counts as normal
        bad = next((v for v in r if isinstance(v, bool) or not isinstance(v, (int, float))), None)
        if bad is not None:
            raise ConfigError(f"'{name}' row {i} holds {bad!r}; rows hold numbers (1 = anomaly, as the seed)")
    return [list(r) for r in values]


def _pad(rows: list[list], width: int) -> Tensor:
    out = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):  # a loop over rows of a JSON file, building the tensor once
        if r:
            out[i, : len(r)] = torch.tensor([v == 1 for v in r], dtype=torch.bool)
    return out


def _ratio(num: int, den: int, what: str, row: int) -> float:
    if den == 0:
        warnings.warn(f"row {row}: {what} is undefined (its denominator is 0); reported as NaN", stacklevel=3)
        return math.nan
    return num / den


def _mean(values: list) -> float:
    kept = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return statistics.mean(kept) if kept else math.nan


def seed_evaluate(targets: Sequence[Sequence], candidates: Sequence[Sequence], k: int) -> dict:
    """The seed's ``evaluate_model``: per-row lists ``td, tdir, dair, exact_match, detected_anomaly,
    missed_anomaly, false_anomaly`` and their means ``average_*`` (``statistics.mean``, as the seed;
    NaN rows are left out of a mean, which is NaN only when every row is). ``k`` is the JSON's ``range``."""
    targets, candidates = _rows(targets, "targets"), _rows(candidates, "candidates")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"range={k!r} must be a non-negative integer (steps either side of a target)")
    if k > 2**62:  # a tensor index holds 63 bits; no series is that long
        raise ConfigError(f"range={k} is too large; give a non-negative integer of at most 2**62 steps")
    if not targets:
        raise ConfigError("'targets' has no rows; give at least one row of 0/1 values")
    if len(candidates) != len(targets):
        raise ConfigError(
            f"'targets' has {len(targets)} rows but 'candidates' has {len(candidates)}; rows pair by index"
        )
    for i, (t, c) in enumerate(zip(targets, candidates)):
        if len(t) != len(c):
            raise ConfigError(
                f"row {i}: target has {len(t)} values but candidate has {len(c)}; rows must have equal lengths"
            )
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.int64)
    width = max(1, int(lengths.max()))
    tgt, cand = _pad(targets, width), _pad(candidates, width)
    td = temporal_distance(tgt, cand, lengths).tolist()
    counts = {k: v.tolist() for k, v in counting_method(tgt, cand, k).items()}
    tdir, dair = [], []
    for i in range(len(targets)):
        em, da, ma, fa = (counts[k][i] for k in ("em", "da", "ma", "fa"))
        tdir.append(_ratio(em + da, em + da + ma, "TDIR (no anomaly in the target)", i))
        dair.append(_ratio(em + da, em + da + fa, "DAIR (no anomaly found and no false anomaly)", i))
    return {
        "td": td,
        "tdir": tdir,
        "dair": dair,
        "exact_match": counts["em"],
        "detected_anomaly": counts["da"],
        "missed_anomaly": counts["ma"],
        "false_anomaly": counts["fa"],
        "average_td": _mean(td),
        "average_tdir": _mean(tdir),
        "average_dair": _mean(dair),
        "average_em": _mean(counts["em"]),
        "average_da": _mean(counts["da"]),
        "average_ma": _mean(counts["ma"]),
        "average_fa": _mean(counts["fa"]),
    }


def evaluate_model(payload: dict) -> dict:
    """The seed's ``eval`` task on its JSON input ``{"targets", "candidates", "range"}``."""
    if not isinstance(payload, dict):
        raise ConfigError(
            f"eval input must be a JSON object with targets, candidates and range; got {type(payload).__name__}"
        )
    unknown = sorted(set(payload) - {"targets", "candidates", "range"})
    if unknown:
        raise ConfigError(f"eval input has unknown keys {unknown}; it takes 'targets', 'candidates' and 'range'")
    missing = [key for key in ("targets", "candidates", "range") if key not in payload]
    if missing:
        raise ConfigError(f"eval input lacks {missing}; it needs 'targets', 'candidates' and 'range'")
    return seed_evaluate(payload["targets"], payload["candidates"], payload["range"])


def seed_scores(pred, target, k: int = 3) -> dict[str, float]:
    """The seed's figures for tensors: ``td``, ``tdir``, ``dair``, ``em``, ``da``, ``ma``, ``fa``,
    each the mean over rows of ``(B, T)`` flags (NaN rows skipped, as in :func:`seed_evaluate`)."""
    from anomaly_lab.metrics.segments import as_binary

    t, c = as_binary(target, "target"), as_binary(pred, "pred")
    if t.shape != c.shape:
        raise ConfigError(f"pred has shape {tuple(c.shape)} but target has {tuple(t.shape)}")
    counts = counting_method(t, c, int(k))
    em, da, ma, fa = (counts[n].to(torch.float64) for n in ("em", "da", "ma", "fa"))
    tdir = (em + da) / (em + da + ma)
    dair = (em + da) / (em + da + fa)
    out = {
        "td": temporal_distance(t, c).to(torch.float64).mean(),
        "tdir": tdir.nanmean(),
        "dair": dair.nanmean(),
        "em": em.mean(),
        "da": da.mean(),
        "ma": ma.mean(),
        "fa": fa.mean(),
    }
    return {k2: float(v) for k2, v in out.items()}
