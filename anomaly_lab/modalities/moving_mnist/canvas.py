"""Pasting digits into frames for a whole batch at once.

Every digit pixel is scattered into a padded canvas at ``(row + i, col + j)`` (index arithmetic, one
``scatter_add_`` for all frames and digits); overlapping digits add, and the sum saturates at 255.
Integer sums make the result exact on any device, whatever order the additions run in.
"""

from __future__ import annotations

import torch
from torch import Tensor


def paste(sprites: Tensor, positions: Tensor, frame_size: int, margin: int = 2) -> Tensor:
    """Frames ``(R, frame_size, frame_size)`` uint8 from ``sprites`` ``(R, D, S, S)`` uint8 drawn
    with their top-left corners at ``positions`` ``(R, D, 2)`` int64 (x = column, y = row).

    Positions must lie in ``[-margin, frame_size - S + margin]``; the parts outside the frame are
    cut off.
    """
    r, d, s, _ = sprites.shape
    device = sprites.device
    side = frame_size + 2 * margin
    pos = positions.to(device=device, dtype=torch.int64) + margin
    lo, hi = int(pos.min()) if pos.numel() else 0, int(pos.max()) if pos.numel() else 0
    if lo < 0 or hi > side - s:
        raise ValueError(
            f"digit positions must lie in [{-margin}, {frame_size - s + margin}], got [{lo - margin}, {hi - margin}]"
        )
    offs = torch.arange(s, device=device)
    rows = pos[..., 1, None, None] + offs[:, None]  # (R, D, S, 1)
    cols = pos[..., 0, None, None] + offs[None, :]  # (R, D, 1, S)
    flat = (rows * side + cols).reshape(r, d * s * s)
    canvas = torch.zeros(r, side * side, dtype=torch.int32, device=device)
    canvas.scatter_add_(1, flat, sprites.reshape(r, d * s * s).to(torch.int32))
    canvas = canvas.view(r, side, side)[:, margin : margin + frame_size, margin : margin + frame_size]
    return canvas.clamp(max=255).to(torch.uint8)
