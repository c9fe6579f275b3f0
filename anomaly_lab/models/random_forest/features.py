"""Fixed features of spectrogram batches for classical estimators (batched tensor ops).

``downsample``: each polarisation area-averaged to ``size`` x ``size`` and flattened
(``4 * size * size`` values).

``band_stats``: per polarisation, the mean, standard deviation, minimum and maximum of each of
``bands`` frequency bands and of each of ``bands`` time segments, plus five whole-plane figures: the
share of zero pixels (lost data), the mean absolute step between neighbouring time bins and
between neighbouring channels (streaks and lines), the largest time-profile and channel-profile
deviation from their medians (bursts, narrow lines). ``4 * (8 * bands + 5)`` values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.errors import check_choice, check_range

FEATURES = ("band_stats", "downsample")


def downsample_features(x: Tensor, size: int = 16) -> Tensor:
    """``(B, C, T, F)`` -> ``(B, C * size * size)`` area averages."""
    return F.interpolate(x, size=(size, size), mode="area").flatten(1)


def _chunk_stats(planes: Tensor, chunks: int, dim: int) -> Tensor:
    """Mean, std, min, max of ``chunks`` equal slices along ``dim`` (2 = time, 3 = frequency) of
    ``(B, C, T, F)``; returns ``(B, C, 4 * chunks)``."""
    n = planes.shape[dim]
    edges = torch.linspace(0, n, chunks + 1).round().to(torch.int64).tolist()
    stats = []
    for lo, hi in zip(edges[:-1], edges[1:]):  # a loop over the (few) bands, not samples
        part = planes.narrow(dim, lo, max(1, hi - lo)).flatten(2)
        stats += [part.mean(-1), part.std(-1, unbiased=False), part.amin(-1), part.amax(-1)]
    return torch.stack(stats, dim=-1)


def band_stat_features(x: Tensor, bands: int = 16) -> Tensor:
    """``(B, C, T, F)`` -> ``(B, C * (8 * bands + 5))`` per-band and whole-plane statistics."""
    b, c = x.shape[:2]
    freq = _chunk_stats(x, bands, 3)
    time = _chunk_stats(x, bands, 2)
    zeros = (x == 0).float().mean((2, 3))
    t_step = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((2, 3))
    f_step = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean((2, 3))
    t_profile = x.mean(3)
    f_profile = x.mean(2)
    t_peak = (t_profile - t_profile.median(-1, keepdim=True).values).abs().amax(-1)
    f_peak = (f_profile - f_profile.median(-1, keepdim=True).values).abs().amax(-1)
    whole = torch.stack([zeros, t_step, f_step, t_peak, f_peak], dim=-1)
    return torch.cat([freq, time, whole], dim=-1).reshape(b, -1)


def spectrogram_features(x: Tensor, kind: str = "band_stats", size: int = 16, bands: int = 16) -> Tensor:
    """Features of a batch ``(B, C, T, F)`` as ``(B, D)`` float32 on ``x``'s device."""
    check_choice("model.features", kind, FEATURES)
    x = x.to(torch.float32)
    if kind == "downsample":
        check_range("model.size", size, 1, x.shape[-1], integer=True)
        return downsample_features(x, size)
    check_range("model.bands", bands, 1, min(x.shape[-2:]), integer=True)
    return band_stat_features(x, bands)
