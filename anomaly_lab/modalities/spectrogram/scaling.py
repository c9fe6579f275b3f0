"""Per-sample, per-channel percentile scaling of spectrograms (the seed's preparation)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range

SCALINGS = ("percentile", "log", "none")


def _order_statistic_pair(flat: Tensor, i: int) -> tuple[Tensor, Tensor]:
    """The ``i``-th and ``i+1``-th smallest values along the last axis (``i+1`` capped at n-1),
    from a partial ``topk`` on the nearer end (several times faster than a full sort)."""
    n = flat.shape[-1]
    j = min(i + 1, n - 1)
    if i < n // 2:
        low = flat.topk(j + 1, dim=-1, largest=False).values  # ascending
        return low[..., i], low[..., j]
    high = flat.topk(n - i, dim=-1, largest=True).values  # descending: position k holds the (n-1-k)-th smallest
    return high[..., n - 1 - i], high[..., n - 1 - j]


#: planes of at least this many values take the bracketing selection on CPU (smaller ones: topk)
_BRACKET_MIN_VALUES = 4096
#: values per plane in the sorted subsample that brackets the wanted ranks
_SUBSAMPLE = 3000
#: planes selected together: about 1 MiB of float32, so the passes over them stay in the cache
_CHUNK_VALUES = 1 << 18


def _bracket_ranks(i: int, j: int, n: int, m: int) -> tuple[int, int]:
    """Ranks in a subsample of ``m`` of the row's ``n`` values whose values bracket the row's ranks
    ``i`` and ``j`` with a wide margin (4 binomial standard deviations and 3 more); outside
    ``[0, m)`` where the bracket is open on that side."""
    q_lo, q_hi = (i + 0.5) / n, (j + 0.5) / n
    lo_r = math.floor(q_lo * m - 4.0 * math.sqrt(m * q_lo * (1.0 - q_lo)) - 3.0)
    hi_r = math.ceil(q_hi * m + 4.0 * math.sqrt(m * q_hi * (1.0 - q_hi)) + 3.0)
    return lo_r, hi_r


def _bracketed_order_statistics(a: np.ndarray, ranks: Sequence[tuple[int, int]]) -> np.ndarray:
    """Exact order statistics of each row of ``a`` ``(P, n)`` float32 (no NaN): for each pair
    ``(i, j)`` of adjacent ranks (0-based), the ``i``-th and ``j``-th smallest values. Returns
    ``(P, 2 * len(ranks))``.

    A strided subsample of each row gives two values that bracket the wanted ranks with a wide
    margin (its order statistics at the bracket ranks, which ``np.partition`` places exactly: 2.6x
    faster than sorting the subsample, 0.07 against 0.17 ms for four 256 x 256 planes); one pass
    counts the values below the bracket and collects those inside it (about 1-3% of the row),
    which are sorted. The counts prove the bracket holds both ranks. A bracket whose two ends are
    equal (ties, such as the zeros of lost data) gives that value; a wide one is selected among its
    values, and a row where the bracket missed is selected whole, both with ``np.partition``.
    Either way the values are the exact order statistics a full sort gives."""
    p_rows, n = a.shape
    step = max(1, n // _SUBSAMPLE)
    sub = a[:, ::step]
    m = sub.shape[1]
    brackets = [_bracket_ranks(i, j, n, m) for i, j in ranks]
    kth = sorted({r for pair in brackets for r in pair if 0 <= r < m})
    sub = np.partition(sub, kth, axis=1) if kth else sub  # the subsample's values at those ranks, exact
    out = np.empty((p_rows, 2 * len(ranks)), dtype=a.dtype)
    ge = np.empty(a.shape, dtype=bool)
    inside = np.empty(a.shape, dtype=bool)
    for k, ((i, j), (lo_r, hi_r)) in enumerate(zip(ranks, brackets, strict=True)):  # the (two) percentiles
        lo_v = sub[:, lo_r : lo_r + 1] if lo_r >= 0 else np.full((p_rows, 1), -np.inf, dtype=a.dtype)
        hi_v = sub[:, hi_r : hi_r + 1] if hi_r < m else np.full((p_rows, 1), np.inf, dtype=a.dtype)
        np.greater_equal(a, lo_v, out=ge)
        np.less_equal(a, hi_v, out=inside)
        inside &= ge
        below = n - np.array([np.count_nonzero(row) for row in ge])  # whole-row counts: the fast kernel
        count = np.array([np.count_nonzero(row) for row in inside])
        ok = (below <= i) & (below + count >= j + 1)  # the bracket holds both ranks
        tie = ok & (lo_v[:, 0] == hi_v[:, 0])  # every bracketed value is the same (lost data: zeros)
        out[tie, 2 * k] = out[tie, 2 * k + 1] = lo_v[tie, 0]
        small = ok & ~tie & (count <= n // 8)
        rows = np.flatnonzero(small)
        if rows.size:
            whole = rows.size == p_rows
            width = int(count[rows].max())
            flat = np.flatnonzero(inside if whole else inside[rows])  # bracketed positions, row by row
            owner = flat // n
            starts = np.cumsum(count[rows]) - count[rows]
            packed = np.full((rows.size, width), np.inf, dtype=a.dtype)
            packed[owner, np.arange(flat.size) - starts[owner]] = (a if whole else a[rows]).reshape(-1)[flat]
            packed.sort(axis=1)
            out[rows, 2 * k] = packed[np.arange(rows.size), i - below[rows]]
            out[rows, 2 * k + 1] = packed[np.arange(rows.size), j - below[rows]]
        for r in np.flatnonzero(ok & ~tie & ~small):  # rare: a wide bracket; select among its values
            part = np.partition(a[r][inside[r]], (i - below[r], j - below[r]))
            out[r, 2 * k], out[r, 2 * k + 1] = part[i - below[r]], part[j - below[r]]
        for r in np.flatnonzero(~ok):  # rare: the bracket missed; select the whole row
            part = np.partition(a[r], (i, j))
            out[r, 2 * k], out[r, 2 * k + 1] = part[i], part[j]
    return out


def _positions(q: Sequence[float], n: int) -> list[tuple[float, int, int]]:
    """For each percentile: its fractional rank ``pos`` and the two ranks it interpolates between."""
    out = []
    for p in q:
        pos = float(p) / 100.0 * (n - 1)
        i = min(int(math.floor(pos)), n - 1)
        out.append((pos, i, min(i + 1, n - 1)))
    return out


def _numpy_planes(x: Tensor) -> np.ndarray | None:
    """``x`` as a ``(planes, values)`` float32 numpy array when the bracketing path applies (big
    float32 planes on CPU without NaN), else None."""
    b, c = x.shape[:2]
    n = x[0, 0].numel() if b * c else 0
    if x.device.type != "cpu" or x.dtype != torch.float32 or n < _BRACKET_MIN_VALUES:
        return None
    a = x.detach().reshape(b * c, n).contiguous().numpy()
    return None if np.isnan(a).any() else a


def _interpolated(a: np.ndarray, positions: list[tuple[float, int, int]]) -> np.ndarray:
    """Percentiles of each row of ``a`` ``(P, n)``: ``(P, len(positions))`` float32, by the same
    float32 arithmetic as the ``topk`` path (``v_lo + (v_hi - v_lo) * frac``)."""
    stats = _bracketed_order_statistics(a, [(i, j) for _, i, j in positions])
    lows, highs = stats[:, 0::2], stats[:, 1::2]
    return np.stack([lows[:, k] + (highs[:, k] - lows[:, k]) * (pos - i) for k, (pos, i, _) in enumerate(positions)], 1)


def channel_percentiles(x: Tensor, q: Sequence[float]) -> Tensor:
    """Percentiles ``q`` (in [0, 100]) of every ``(sample, channel)`` plane of ``x`` ``(B, C, T, F)``.

    Linear interpolation between order statistics, as ``numpy.percentile``'s default. Returns
    ``(B, C, len(q))``. The order statistics are exact however they are found: big float32 planes
    on CPU by bracketing (:func:`_bracketed_order_statistics`, several times faster than ``topk``),
    others (and planes holding NaN) by a partial ``topk``.
    """
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)
    positions = _positions(q, flat.shape[-1])
    a = _numpy_planes(x)
    if a is not None:
        rows = max(1, _CHUNK_VALUES // a.shape[1])
        stats = [_interpolated(a[lo : lo + rows], positions) for lo in range(0, b * c, rows)]  # cache-sized chunks
        return torch.from_numpy(np.concatenate(stats)).reshape(b, c, len(positions))
    out = []
    for pos, i, _ in positions:  # a loop over the (two) percentiles
        v_lo, v_hi = _order_statistic_pair(flat, i)
        out.append(v_lo + (v_hi - v_lo) * (pos - i))
    return torch.stack(out, dim=-1)


def percentile_scale(x: Tensor, low: float = 1.0, high: float = 99.0) -> Tensor:
    """Map each ``(sample, channel)`` plane of ``x`` ``(B, C, T, F)`` to [0, 1]: its ``low``-th
    percentile goes to 0, its ``high``-th to 1, values outside are clipped. A flat plane becomes 0.

    Big float32 planes on CPU are scaled chunk by chunk right after their percentiles are found,
    while the chunk is in the cache (the same float32 operations in the same order, so the same
    values as the tensor path)."""
    check_range("scale_percentiles low", low, 0.0, 100.0)
    check_range("scale_percentiles high", high, 0.0, 100.0)
    if not low < high:
        raise ConfigError(f"scale_percentiles=({low}, {high}) must have low < high")
    a = _numpy_planes(x)
    if a is not None:
        positions = _positions((low, high), a.shape[1])
        out = np.empty_like(a)
        rows = max(1, _CHUNK_VALUES // a.shape[1])
        for lo in range(0, a.shape[0], rows):  # cache-sized chunks of planes
            part, dest = a[lo : lo + rows], out[lo : lo + rows]
            p = _interpolated(part, positions)
            span = p[:, 1:2] - p[:, 0:1]
            flat_plane = ~(span > 0)
            np.subtract(part, p[:, 0:1], out=dest)
            np.divide(dest, np.where(flat_plane, np.float32(1.0), span), out=dest)
            np.clip(dest, np.float32(0.0), np.float32(1.0), out=dest)
            dest[flat_plane[:, 0]] = 0.0
        return torch.from_numpy(out).reshape(x.shape)
    p = channel_percentiles(x, [low, high])
    p_lo, p_hi = p[..., 0, None, None], p[..., 1, None, None]
    span = p_hi - p_lo
    scaled = (x - p_lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, torch.zeros_like(scaled)).clamp_(0.0, 1.0)


def apply_scaling(x: Tensor, scale: str, percentiles: tuple[float, float] = (1.0, 99.0)) -> Tensor:
    """``percentile``: :func:`percentile_scale`; ``log``: ``log10(1 + x)``; ``none``: ``x`` unchanged."""
    if scale == "percentile":
        return percentile_scale(x, *percentiles)
    if scale == "log":
        return torch.log10(1.0 + x.clamp(min=0.0))
    if scale == "none":
        return x
    raise ConfigError(f"scale={scale!r} is not allowed; choose one of {list(SCALINGS)}")
