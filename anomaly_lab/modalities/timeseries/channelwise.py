"""Elementwise ops between a ``(B, T, C)`` series and a per-channel ``(B or 1, 1, C)`` value.

On CPU torch runs such a broadcast as a loop over (b, t) with an inner loop of only C elements (the
value's stride along T is 0, so T and C cannot be merged): 4-5x slower per element than a plain
elementwise op at C = 4. Here the value is tiled to ``K`` steps, ``(B, 1, K * C)``, and the series
is viewed as ``(B, T // K, K * C)``, so the inner loop runs over K * C elements. Every element meets
the same operands in the same op, so the values are those of the plain broadcast; the last
``T % K`` steps take the plain broadcast.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: steps per tile: K * C elements in the inner loop (a few KB, so the tile stays in L1)
TILE_STEPS = 256


def _rows_contiguous(t: Tensor) -> bool:
    """Whether each series of ``t`` (B, T, C) is one contiguous block (T and C can be merged)."""
    return t.stride(2) == 1 and t.stride(1) == t.shape[2]


def channelwise(op: str, a: Tensor, v: Tensor, out: Tensor | None = None) -> Tensor:
    """``torch.<op>(a, v)`` for ``a`` (B or 1, T, C) and ``v`` (B or 1, 1, C), into ``out`` (B, T, C)
    when given (``out`` may be ``a`` itself: in place), else into a new tensor. Same values as the
    broadcast op."""
    fn = getattr(torch, op)
    b = max(a.shape[0], v.shape[0])
    _, t, c = a.shape
    if out is None:
        out = torch.empty(b, t, c, dtype=torch.result_type(a, v), device=a.device)
    k = TILE_STEPS
    main = t - t % k
    if c == 1 or main == 0 or a.device.type != "cpu" or not (_rows_contiguous(a) and _rows_contiguous(out)):
        return fn(a, v, out=out)  # one channel: T is the inner loop already; other devices: no loops
    tile = v.expand(v.shape[0], k, c).reshape(v.shape[0], 1, k * c)
    fn(a[:, :main].view(a.shape[0], main // k, k * c), tile, out=out[:, :main].view(b, main // k, k * c))
    if main < t:
        fn(a[:, main:], v, out=out[:, main:])
    return out


def channelwise_(op: str, x: Tensor, v: Tensor) -> Tensor:
    """``x.<op>_(v)`` in place (x ``(B, T, C)``, v ``(B or 1, 1, C)``); returns ``x``."""
    return channelwise(op, x, v, out=x)
