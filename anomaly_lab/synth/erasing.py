"""Batched random erasing with torchvision's sampling rule, one box per image."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from anomaly_lab.core.rng import CounterRNG

TRIES = 10


def sample_erase_boxes(
    rng: CounterRNG,
    stream: str,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> Tensor:
    """Boxes ``(N, 4)`` as (top, left, h, w) drawn as ``RandomErasing.make_params``: up to 10 tries
    of area ``U(scale) * H * W`` and log-uniform aspect ratio; the first try with ``h < H`` and
    ``w < W`` wins; the box is placed uniformly. Images with no fitting try get ``h = w = 0``
    (left unchanged). All tries are drawn at once (no loop over images or tries)."""
    area = height * width
    erase_area = area * rng.uniform(f"{stream}/area", (TRIES,), scale[0], scale[1])
    log_r = rng.uniform(f"{stream}/ratio", (TRIES,), math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_r)
    hs = torch.round(torch.sqrt(erase_area * aspect)).to(torch.int64)
    ws = torch.round(torch.sqrt(erase_area / aspect)).to(torch.int64)
    ok = (hs < height) & (ws < width)
    first = torch.argmax(ok.to(torch.int8), dim=1)  # first fitting try (0 if none)
    any_ok = ok.any(dim=1)
    rows = torch.arange(len(rng), device=rng.device)
    h = torch.where(any_ok, hs[rows, first], torch.zeros_like(first))
    w = torch.where(any_ok, ws[rows, first], torch.zeros_like(first))
    top = rng.integers(f"{stream}/top", (), high=height - h + 1)
    left = rng.integers(f"{stream}/left", (), high=width - w + 1)
    return torch.stack([top, left, h, w], dim=1)


def erase(images: Tensor, boxes: Tensor, value: float = 0.0) -> Tensor:
    """Set the box (top, left, h, w) of each image to ``value``; ``h = 0`` leaves it unchanged."""
    n, _, hgt, wid = images.shape
    ys = torch.arange(hgt, device=images.device)[None, :]
    xs = torch.arange(wid, device=images.device)[None, :]
    top, left, h, w = (boxes[:, i, None] for i in range(4))
    # The row and column masks are small, (N, H) and (N, W); the full-size work is their product.
    rows = (ys >= top) & (ys < top + h)
    cols = (xs >= left) & (xs < left + w)
    if value == 0.0:
        # x * 1 is x and x * 0 is 0 (for finite x), so multiplying by the 0/1 mask "outside the box"
        # erases exactly; two vectorised passes instead of a bool mask and ``masked_fill`` (whose
        # CPU loop is about 6x slower than a multiply).
        r, c = rows.to(images.dtype), cols.to(images.dtype)
        keep = torch.addcmul(images.new_ones(()), r[:, None, :, None], c[:, None, None, :], value=-1.0)
        return images * keep
    inside = (rows.to(torch.uint8)[:, None, :, None] * cols.to(torch.uint8)[:, None, None, :]).bool()
    return images.masked_fill(inside, value)
