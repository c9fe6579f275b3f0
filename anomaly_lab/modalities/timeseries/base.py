"""Synthetic base series (the clean signal anomalies are injected into), batched on the device.

Channel ``c`` of every series follows the shape ``shapes[c % len(shapes)]``, so a channel means
the same thing in every sample (a detector can learn it); each sample draws its own period,
amplitude, phase, offset and noise from ``CounterRNG(seed, index)``. Shapes:

- ``sine``, ``square``, ``sawtooth``: periodic waves of the drawn period (in steps);
- ``ecg``: a heartbeat-like wave, five Gaussian bumps per beat (P, Q, R, S, T waves), the
  wave-shape model of McSharry et al., "A dynamical model for generating synthetic
  electrocardiogram signals", IEEE TBME 50(3), 2003, placed at fixed phases of each beat;
- ``random_walk``: the cumulative sum of Gaussian steps, scaled to span about the amplitude;
- ``polynomial``: a quadratic trend ``a (t/T) + b (t/T)^2`` with drawn coefficients;

plus Gaussian noise of the drawn level on every channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.rng import CounterRNG

SHAPES = ("sine", "square", "sawtooth", "ecg", "random_walk", "polynomial")

# (amplitude, phase within the beat, width) of the P, Q, R, S and T waves
_ECG_WAVES = ((0.12, 0.20, 0.025), (-0.15, 0.36, 0.010), (1.0, 0.40, 0.012), (-0.25, 0.44, 0.012), (0.30, 0.65, 0.040))


def _pair(name: str, value, low: float = 0.0) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    values = list(value) if value is not None else []
    if (
        len(values) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        or not low <= values[0] <= values[1]
    ):
        raise ConfigError(f"{name}={value!r} must be a number or [low, high] with {low} <= low <= high")
    return float(values[0]), float(values[1])


class BaseSeries:
    """Makes clean ``(B, T, C)`` float32 series for a batch of sample indices.

    Args:
        shapes: shape of each channel, cycled over ``channels`` (see the module docstring).
        channels: number of channels C. length: number of steps T.
        period: [low, high] period in steps, drawn per sample and channel (periodic shapes).
        amplitude: [low, high] amplitude. offset: [low, high] constant added.
        noise: [low, high] standard deviation of the added Gaussian noise.
    """

    def __init__(
        self,
        shapes: Sequence[str] = ("sine", "ecg", "square", "sawtooth"),
        channels: int = 4,
        length: int = 512,
        period: Sequence[float] = (24.0, 64.0),
        amplitude: Sequence[float] = (0.8, 1.2),
        offset: Sequence[float] = (-0.5, 0.5),
        noise: Sequence[float] = (0.02, 0.05),
    ):
        shapes = [shapes] if isinstance(shapes, str) else list(shapes)
        if not shapes:
            raise ConfigError(f"base shapes={shapes!r} is empty; choose from {list(SHAPES)}")
        for s in shapes:
            check_choice("base shape", s, SHAPES)
        check_range("channels", channels, 1, 1024, integer=True)
        check_range("length", length, 2, 10_000_000, integer=True)
        self.shapes = shapes
        self.channels, self.length = channels, length
        self.period = _pair("period", period, 2.0)
        self.amplitude = _pair("amplitude", amplitude)
        self.offset = _pair("offset", offset, -math.inf)
        self.noise = _pair("noise", noise)
        self.channel_shapes = [shapes[c % len(shapes)] for c in range(channels)]

    def config_dict(self) -> dict:
        return {
            "shapes": self.shapes,
            "channels": self.channels,
            "length": self.length,
            "period": list(self.period),
            "amplitude": list(self.amplitude),
            "offset": list(self.offset),
            "noise": list(self.noise),
        }

    def make(self, rng: CounterRNG) -> Tensor:
        """``(B, T, C)`` float32 clean series for the indices of ``rng``, on its device."""
        b, t, c = len(rng), self.length, self.channels
        device = rng.device
        steps = torch.arange(t, dtype=torch.float32, device=device)[None, :, None]  # (1, T, 1)
        period = rng.uniform("base/period", (1, c), *self.period)
        amplitude = rng.uniform("base/amplitude", (1, c), *self.amplitude)
        offset = rng.uniform("base/offset", (1, c), *self.offset)
        phase = rng.uniform("base/phase", (1, c))  # fraction of a period
        noise = rng.uniform("base/noise", (1, c), *self.noise)
        cycles = steps / period + phase  # (B, T, C)
        frac = cycles - torch.floor(cycles)
        x = torch.zeros(b, t, c, device=device)
        for shape in set(self.channel_shapes):  # a loop over shapes, not samples
            cols = torch.tensor([k for k, s in enumerate(self.channel_shapes) if s == shape], device=device)
            x[:, :, cols] = self._shape(shape, rng, frac[:, :, cols], cols, t)
        x = offset + amplitude * x
        return x + noise * rng.normal("base/noise_values", (t, c))

    @staticmethod
    def _shape(shape: str, rng: CounterRNG, frac: Tensor, cols: Tensor, t: int) -> Tensor:
        if shape == "sine":
            return torch.sin(2 * math.pi * frac)
        if shape == "square":
            return torch.where(frac < 0.5, 1.0, -1.0)
        if shape == "sawtooth":
            return 2 * frac - 1
        if shape == "ecg":
            out = torch.zeros_like(frac)
            for a, mu, width in _ECG_WAVES:  # five waves per beat
                out = out + a * torch.exp(-((frac - mu) ** 2) / (2 * width * width))
            return out
        steps = torch.arange(t, dtype=torch.float32, device=frac.device)[None, :, None] / max(1, t - 1)
        if shape == "polynomial":
            coef = rng.uniform("base/poly", (2, int(cols.max()) + 1), -1.0, 1.0)[:, :, cols]  # (B, 2, k)
            return coef[:, 0:1] * steps + coef[:, 1:2] * steps * steps
        # random_walk
        walk = rng.normal("base/walk", (t, int(cols.max()) + 1))[:, :, cols].cumsum(1)
        return walk * (2.0 / math.sqrt(t))
