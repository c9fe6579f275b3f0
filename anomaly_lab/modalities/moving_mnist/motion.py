"""Digit paths of Moving MNIST: start, direction, integer speed, bounce at the walls.

The notebook's law, for each digit of each sequence: start uniform in ``[0, lim)`` per axis
(``lim = frame - digit``, 36 for 64x64 frames and 28x28 digits), direction uniform in ``[-pi, pi)``,
speed an integer in ``[speed_min, speed_max]`` pixels a frame. Before each step, a velocity component
flips sign when the next position would leave ``[-margin, lim + margin]`` (``[-2, 38]``). A digit is
drawn at the truncated integer position of its (x, y) = (column, row).

Paths are computed in float64 on the CPU from counter-based draws and then moved to the device: the
loop is over the T frames only, and positions never depend on the device's trigonometry.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from anomaly_lab.core.rng import CounterRNG


def sample_motion(rng: CounterRNG, num_digits: int, lim: int, speed: tuple[int, int]) -> dict[str, Tensor]:
    """Per-sequence motion draws on the CPU: ``start`` ``(B, D, 2)`` float64 in ``[0, lim)``,
    ``velocity`` ``(B, D, 2)`` float64 (speed x (cos, sin) of the direction) and ``speed`` ``(B, D)``."""
    start = rng.uniform("motion/start", (num_digits, 2)).cpu().to(torch.float64) * lim
    direction = rng.uniform("motion/direction", (num_digits,)).cpu().to(torch.float64) * (2 * math.pi) - math.pi
    pixels = rng.integers("motion/speed", (num_digits,), high=speed[1] + 1, low=speed[0]).cpu()
    velocity = pixels.to(torch.float64)[..., None] * torch.stack([torch.cos(direction), torch.sin(direction)], -1)
    return {"start": start, "velocity": velocity, "speed": pixels}


def trajectories(
    start: Tensor, velocity: Tensor, steps: int, lim: int, margin: int = 2, step_scale: Tensor | None = None
) -> Tensor:
    """Float positions ``(B, T, D, 2)`` of the bouncing paths (the notebook's update).

    ``step_scale`` ``(B, T, D)`` (optional) multiplies the step that arrives at frame ``t``: a
    sudden speed change. With it, positions are clamped to the walls (a no-op for the normal law,
    whose bounce already keeps them inside).
    """
    low, high = -float(margin), float(lim + margin)
    pos, vel = start.clone(), velocity.clone()
    out = torch.empty(start.shape[0], steps, *start.shape[1:], dtype=start.dtype)
    out[:, 0] = pos
    for t in range(1, steps):  # T frames: a loop over time, never over samples
        step = vel if step_scale is None else vel * step_scale[:, t, :, None]
        nxt = pos + step
        flip = (nxt < low) | (nxt > high)
        vel = torch.where(flip, -vel, vel)
        step = vel if step_scale is None else vel * step_scale[:, t, :, None]
        pos = pos + step
        if step_scale is not None:
            pos = pos.clamp(low, high)
        out[:, t] = pos
    return out


def pixel_positions(positions: Tensor) -> Tensor:
    """Truncated integer positions (toward zero, as Python's ``int()``), int64."""
    return torch.trunc(positions).to(torch.int64)
