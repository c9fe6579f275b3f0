"""A training-free video baseline: how far each frame's ink histogram strays from its clip's.

Moving digits keep their shapes, so a frame's count of pixels above a few brightness levels barely
changes along a normal clip (it moves with overlaps only), whatever the positions. A digit that is
swapped, blurred, erased or vanishes changes those counts for the frames it touches. The score of
frame t is ``sum_k |n_k(t) - median_t n_k| / (median_t n_k + 1)`` over levels k: translation
invariant, no weights, one batched pass. It is the yardstick any learned video detector here should
beat (docs/video.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class InkHistogramConsistency(nn.Module):
    """Per-frame anomaly scores ``(B, T)`` for clips ``(B, T, C, H, W)`` (uint8 or floats in [0, 1])."""

    def __init__(self, levels: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9)):
        super().__init__()
        levels = [float(v) for v in levels]
        if not levels or any(not 0.0 <= v < 1.0 for v in levels):
            raise ValueError(f"levels={levels!r} must be a non-empty list of brightness levels in [0, 1)")
        self.register_buffer("levels", torch.tensor(levels), persistent=False)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.dim() != 5:
            raise ValueError(f"frames must be (B, T, C, H, W), got shape {tuple(frames.shape)}")
        x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
        x = x.flatten(2)  # (B, T, C*H*W)
        counts = (x[..., None] > self.levels.to(x.device)).sum(dim=2).float()  # (B, T, K)
        typical = counts.median(dim=1, keepdim=True).values  # (B, 1, K)
        return ((counts - typical).abs() / (typical + 1.0)).sum(dim=-1)
