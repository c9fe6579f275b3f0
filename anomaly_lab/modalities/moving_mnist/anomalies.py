"""Anomaly kinds of Anomalous Moving MNIST and their per-sequence draws.

Each anomalous sequence has one kind, drawn from the configured mixture weights, applied to one
digit (or both) in its anomalous frames:

- ``replace`` (the seed's): the digit is replaced by a same-cluster digit of another label, drawn
  once per sequence, on the same path;
- ``jump``: the digit is displaced by ``jump_distance`` pixels (random direction) off its path;
- ``speed``: the steps into the anomalous frames are ``speed_factor`` times longer (the digit then
  carries on at its normal speed from where it got to);
- ``vanish``: the digit is not drawn;
- ``blur``: the digit is Gaussian-blurred with ``blur_sigma`` pixels;
- ``erase``: a box of ``erase_size`` x the digit's side is blanked inside the digit's ink.

Anomalous frames are a fixed list for every sequence, or a run of ``run_length`` consecutive frames
that never includes the first or the last frame (a change of motion needs a frame before it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.synth.filters import gaussian_blur

KINDS = ("replace", "jump", "speed", "vanish", "blur", "erase")
#: kinds that change what is drawn (the others change where)
SPRITE_KINDS = ("replace", "vanish", "blur", "erase")


def kind_weights(kinds: Mapping[str, float] | Sequence[str] | str) -> Tensor:
    """Mixture weights ``(len(KINDS),)`` float64 summing to 1, from ``{kind: weight}``, a list of
    kinds (equal weights) or one kind name."""
    if isinstance(kinds, str):
        kinds = {kinds: 1.0}
    elif not isinstance(kinds, Mapping):
        kinds = {k: 1.0 for k in kinds}
    weights = torch.zeros(len(KINDS), dtype=torch.float64)
    for name, w in kinds.items():
        if name not in KINDS:
            raise ConfigError(f"anomaly kind {name!r} is not known; choose from {list(KINDS)}")
        check_range(f"kinds.{name}", w, 0.0)
        weights[KINDS.index(name)] = float(w)
    if weights.sum() <= 0:
        raise ConfigError(f"kinds={dict(kinds)} gives no kind a positive weight; give at least one kind a weight > 0")
    return weights / weights.sum()


def draw_kind(rng: CounterRNG, weights: Tensor) -> Tensor:
    """Kind id ``(B,)`` in ``[0, len(KINDS))`` by inverse CDF of one uniform per sequence."""
    cdf = torch.cumsum(weights.to(torch.float64), 0)[:-1].to(rng.device)  # float64: a zero weight is never drawn
    return torch.searchsorted(cdf, rng.uniform("anomaly/kind", ()).to(torch.float64), right=True)


def anomalous_frames(rng: CounterRNG, steps: int, frames: Sequence[int] | None, run_length: tuple[int, int]) -> Tensor:
    """``(B, T)`` bool: the fixed ``frames`` for every sequence, or a random run of consecutive frames
    of length in ``run_length`` (inclusive) starting in ``[1, T - length - 1]``."""
    b = len(rng)
    t = torch.arange(steps, device=rng.device)
    if frames is not None:
        plan = torch.zeros(steps, dtype=torch.bool, device=rng.device)
        plan[torch.as_tensor(list(frames), dtype=torch.int64, device=rng.device)] = True
        return plan.expand(b, steps).clone()
    length = rng.integers("anomaly/run_length", (), high=run_length[1] + 1, low=run_length[0])
    start = rng.integers("anomaly/run_start", (), high=steps - length, low=1)
    return (t[None, :] >= start[:, None]) & (t[None, :] < (start + length)[:, None])


def blurred(sprites: Tensor, rng: CounterRNG, sigma: tuple[float, float]) -> Tensor:
    """``sprites`` ``(B, D, S, S)`` uint8 blurred with a per-sequence sigma (shared by its digits)."""
    b, d, s, _ = sprites.shape
    sig = rng.uniform("anomaly/blur_sigma", (), sigma[0], sigma[1])
    kernel = min(2 * math.ceil(3 * sigma[1]) + 1, 2 * ((s - 1) // 2) + 1)  # reflect padding needs kernel <= 2S-1
    x = sprites.reshape(b, d, s, s).to(torch.float32)
    out = gaussian_blur(x, sig, kernel_size=kernel)
    return out.round().clamp(0, 255).to(torch.uint8)


def erased(sprites: Tensor, rng: CounterRNG, size: tuple[float, float]) -> Tensor:
    """``sprites`` ``(B, D, S, S)`` with a box blanked inside each digit's ink bounding box.

    The box's side is ``U(size) * S`` (one draw per sequence and digit); its centre is uniform in
    the ink's bounding box, and it is clipped to the sprite."""
    b, d, s, _ = sprites.shape
    dev = sprites.device
    ink = sprites > 0
    idx = torch.arange(s, device=dev)
    rows_any, cols_any = ink.any(dim=3), ink.any(dim=2)  # (B, D, S)
    big = torch.full_like(idx, s)
    top = torch.where(rows_any, idx, big).amin(-1)
    bottom = torch.where(rows_any, idx, -1).amax(-1)
    left = torch.where(cols_any, idx, big).amin(-1)
    right = torch.where(cols_any, idx, -1).amax(-1)
    empty = bottom < 0
    top, left = torch.where(empty, 0, top), torch.where(empty, 0, left)
    bottom, right = torch.where(empty, s - 1, bottom), torch.where(empty, s - 1, right)
    side = (rng.uniform("anomaly/erase_size", (d,), size[0], size[1]) * s).round().clamp(min=1).to(torch.int64)
    u = rng.uniform("anomaly/erase_centre", (d, 2))
    cy = top + (u[..., 0] * (bottom - top + 1)).to(torch.int64)
    cx = left + (u[..., 1] * (right - left + 1)).to(torch.int64)
    y0, x0 = cy - side // 2, cx - side // 2
    inside_r = (idx >= y0[..., None]) & (idx < (y0 + side)[..., None])  # (B, D, S)
    inside_c = (idx >= x0[..., None]) & (idx < (x0 + side)[..., None])
    box = inside_r[..., :, None] & inside_c[..., None, :]
    return torch.where(box, torch.zeros_like(sprites), sprites)


def jump_offsets(rng: CounterRNG, num_digits: int, distance: tuple[float, float]) -> Tensor:
    """``(B, D, 2)`` float64 displacements on the CPU: length ``U(distance)``, uniform direction."""
    length = rng.uniform("anomaly/jump_distance", (num_digits,), distance[0], distance[1]).cpu().to(torch.float64)
    angle = rng.uniform("anomaly/jump_angle", (num_digits,)).cpu().to(torch.float64) * (2 * math.pi)
    return length[..., None] * torch.stack([torch.cos(angle), torch.sin(angle)], -1)


def displaced(positions: Tensor, offset: Tensor, low: float, high: float) -> Tensor:
    """``positions`` ``(B, T, D, 2)`` moved by ``offset`` ``(B, D, 2)``; an axis that would leave
    ``[low, high]`` is moved the other way instead (then clamped)."""
    off = offset[:, None]
    ahead = positions + off
    back = positions - off
    out_of = (ahead < low) | (ahead > high)
    return torch.where(out_of, back, ahead).clamp(low, high)
