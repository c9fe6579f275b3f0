"""Contiguous runs of anomalous time steps ("events", "ranges"), found with tensor ops.

Every event-aware metric (range-based, point-adjusted, event-wise, VUS, the seed's counting) works
on these runs. A run never crosses the boundary between two series (rows of a ``(B, T)`` input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError


def as_rows(x, name: str = "labels") -> Tensor:
    """``x`` as a 2-D tensor ``(B, T)``: a 1-D series becomes one row; ``(B, T, C)`` is refused
    (reduce channels first, e.g. ``labels.any(-1)``)."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(x)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise ConfigError(f"{name} has shape {tuple(t.shape)}; give one series (T,) or a batch (B, T)")
    return t


def as_binary(x, name: str = "labels") -> Tensor:
    """Rows of 0/1 flags as bool ``(B, T)``: a value counts as anomalous only when it equals 1."""
    t = as_rows(x, name)
    if t.dtype == torch.bool:
        return t
    return t == 1


@dataclass
class Segments:
    """Runs of True in a ``(B, T)`` bool tensor: ``row``, ``start`` (first step), ``end`` (one past
    the last step), all ``(K,)`` int64, ordered by row then start; ``length = end - start``."""

    row: Tensor
    start: Tensor
    end: Tensor
    steps: int

    @property
    def length(self) -> Tensor:
        return self.end - self.start

    def __len__(self) -> int:
        return int(self.row.numel())

    @property
    def flat_start(self) -> Tensor:
        """Start on a line where row ``b`` begins at ``b * (T + 1)`` (a gap keeps rows apart)."""
        return self.row * (self.steps + 1) + self.start

    @property
    def flat_end(self) -> Tensor:
        return self.row * (self.steps + 1) + self.end

    def ids(self) -> Tensor:
        """``(B, T)`` int64: the index of the run covering each step, -1 outside every run."""
        b = int(self.row.max()) + 1 if len(self) else 0
        return run_ids(self, b)


def find_segments(labels) -> Segments:
    """The runs of anomalous steps of ``labels`` ``(T,)`` or ``(B, T)`` (values equal to 1, or True)."""
    x = as_binary(labels).to(torch.int8)
    b, t = x.shape
    padded = torch.nn.functional.pad(x, (1, 1))
    d = padded[:, 1:] - padded[:, :-1]  # (B, T+1): +1 at a start, -1 one past an end
    rs, starts = torch.nonzero(d == 1, as_tuple=True)
    _, ends = torch.nonzero(d == -1, as_tuple=True)
    return Segments(rs, starts, ends, t)


def run_ids(seg: Segments, rows: int) -> Tensor:
    """``(rows, T)`` int64 map from each step to the index of its run (-1 outside runs)."""
    t = seg.steps
    device = seg.row.device
    marks = torch.zeros(rows * (t + 1) + 1, dtype=torch.int64, device=device)
    k = torch.arange(len(seg), dtype=torch.int64, device=device)
    fs, fe = seg.flat_start, seg.flat_end
    marks.index_add_(0, fs, k + 1)
    marks.index_add_(0, fe, -(k + 1))
    ids = marks.cumsum(0)[:-1].reshape(rows, t + 1)[:, :t] - 1
    return ids


def segment_counts(seg: Segments, flags: Tensor) -> Tensor:
    """``(K,)`` number of True steps of ``flags`` ``(B, T)`` inside each run of ``seg``."""
    b, t = flags.shape
    csum = torch.nn.functional.pad(flags.to(torch.int64).cumsum(1), (1, 0))  # (B, T+1)
    return csum[seg.row, seg.end] - csum[seg.row, seg.start]


def segment_max(seg: Segments, values: Tensor) -> Tensor:
    """``(K,)`` largest value of ``values`` ``(B, T)`` inside each run of ``seg``."""
    ids = run_ids(seg, values.shape[0]).reshape(-1)
    inside = ids >= 0
    out = torch.full((len(seg),), float("-inf"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, ids[inside], values.reshape(-1)[inside], reduce="amax", include_self=True)
