"""Per-sample, per-channel percentile scaling of spectrograms (the seed's preparation)."""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.errors import ConfigError, check_range

SCALINGS = ("percentile", "log", "none")


def channel_percentiles(x: Tensor, q: Tensor | list[float]) -> Tensor:
    """Percentiles ``q`` (in [0, 100]) of every ``(sample, channel)`` plane of ``x`` ``(B, C, T, F)``.

    Linear interpolation between order statistics, as ``numpy.percentile``'s default. Returns
    ``(B, C, len(q))``.
    """
    b, c = x.shape[:2]
    flat = x.reshape(b, c, -1)
    n = flat.shape[-1]
    q = torch.as_tensor(q, dtype=torch.float64, device=x.device)
    pos = q / 100.0 * (n - 1)
    lo = pos.floor().to(torch.int64).clamp(0, n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    frac = (pos - lo.to(torch.float64)).to(x.dtype)
    ordered = flat.sort(dim=-1).values
    v_lo = ordered[..., lo]
    v_hi = ordered[..., hi]
    return v_lo + (v_hi - v_lo) * frac


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
