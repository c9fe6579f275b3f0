"""Sliding windows over series and back: the LSTM models see fixed-length windows, detectors
report one score per time step, and the seed rebuilds a series from decoded windows."""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError


def sliding_windows(x: Tensor, size: int, stride: int = 1) -> Tensor:
    """Windows ``(B, W, size, C)`` of series ``x`` ``(B, T, C)``: ``W = (T - size) // stride + 1``
    windows starting at ``0, stride, ...`` (a view, no copy)."""
    if x.shape[1] < size:
        raise ConfigError(f"series of {x.shape[1]} steps are shorter than the window (seq_len={size})")
    return x.unfold(1, size, stride).permute(0, 1, 3, 2)


def fold_mean(values: Tensor, steps: int, stride: int = 1) -> Tensor:
    """Per-step mean ``(B, T)`` of per-window-step ``values`` ``(B, W, size)`` over the windows
    covering each step (windows laid out as :func:`sliding_windows` lays them)."""
    b, w, size = values.shape
    pos = torch.arange(w, device=values.device)[:, None] * stride + torch.arange(size, device=values.device)[None, :]
    pos = pos.reshape(1, -1).expand(b, -1)
    total = torch.zeros(b, steps, dtype=values.dtype, device=values.device).scatter_add_(1, pos, values.reshape(b, -1))
    count = torch.zeros(b, steps, dtype=values.dtype, device=values.device).scatter_add_(
        1, pos, torch.ones_like(values).reshape(b, -1)
    )
    return total / count.clamp(min=1)


def stitch_last_rows(windows: Tensor) -> Tensor:
    """The seed's rebuild of a series from stride-1 windows ``(W, size, C)``: the first window
    whole, then the last row of each later window, ``(W + size - 1, C)``."""
    return torch.cat([windows[0], windows[1:, -1]], 0)


def stitched_rows(window: Tensor, size: int) -> Tensor:
    """The rows of the stitched series that window ``w`` supplies (``(K,)`` window ids in,
    sorted unique rows out): window 0 gives rows ``0..size-1``, window ``w > 0`` gives row ``w + size - 1``."""
    first = window == 0
    rows = [window[~first] + size - 1]
    if bool(first.any()):
        rows.append(torch.arange(size, device=window.device))
    return torch.unique(torch.cat(rows))
