"""Per-sample, per-channel percentile scaling of spectrograms (the seed's preparation)."""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def channel_percentiles(x: Tensor, q: Sequence[float]) -> Tensor:
    """Percentiles ``q`` (in [0, 100]) of every ``(sample, channel)`` plane of ``x`` ``(B, C, T, F)``.

    Linear interpolation between order statistics, as ``numpy.percentile``'s default. Returns
    ``(B, C, len(q))``.
    """
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)
    n = flat.shape[-1]
    out = []
    for p in q:  # a loop over the (two) percentiles
        pos = float(p) / 100.0 * (n - 1)
        i = min(int(math.floor(pos)), n - 1)
        v_lo, v_hi = _order_statistic_pair(flat, i)
        out.append(v_lo + (v_hi - v_lo) * (pos - i))
    return torch.stack(out, dim=-1)


def percentile_scale(x: Tensor, low: float = 1.0, high: float = 99.0) -> Tensor:
    """Map each ``(sample, channel)`` plane of ``x`` ``(B, C, T, F)`` to [0, 1]: its ``low``-th
    percentile goes to 0, its ``high``-th to 1, values outside are clipped. A flat plane becomes 0."""
    check_range("scale_percentiles low", low, 0.0, 100.0)
    check_range("scale_percentiles high", high, 0.0, 100.0)
    if not low < high:
        raise ConfigError(f"scale_percentiles=({low}, {high}) must have low < high")
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
