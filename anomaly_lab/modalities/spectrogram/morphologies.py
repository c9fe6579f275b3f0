"""What each ROAD class does to a spectrogram, as batched effect maps.

A morphology takes the per-sample random numbers of its sub-batch (a :class:`CounterRNG`) and the
time and frequency grids, and returns an :class:`Effect`: maps over ``(n, T, F)`` (or anything that
broadcasts to it) that the generator applies to the normal sky signal ``S``:

    x = level * pol * (S * gain + add) * exp(sigma * noise * N(0, 1)),  then x = 0 where drop.

Brightness units: the normal bandpass is about 1 in mid-band, so ``add = 3`` is a feature three
times as bright as the sky there. Positions and sizes are fractions of the time and frequency
range, so a 64 x 64 spectrogram shows the same shapes as a 256 x 256 one. ``strength`` ``(n,)``
scales the amplitude of each sample's effect (1.0 is the full look; smaller is fainter; lost data
stays lost at any strength).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core.registry import Registry
from anomaly_lab.core.rng import CounterRNG


@dataclass
class Grid:
    """Bin centres in [0, 1): ``t`` ``(1, T, 1)`` and ``f`` ``(1, 1, F)``; integer bins likewise."""

    t: Tensor
    f: Tensor
    t_bin: Tensor
    f_bin: Tensor

    @classmethod
    def make(cls, time_bins: int, freq_bins: int, device: torch.device) -> Grid:
        tb = torch.arange(time_bins, device=device)
        fb = torch.arange(freq_bins, device=device)
        t = ((tb.to(torch.float32) + 0.5) / time_bins).view(1, -1, 1)
        f = ((fb.to(torch.float32) + 0.5) / freq_bins).view(1, 1, -1)
        return cls(t, f, tb.view(1, -1, 1), fb.view(1, 1, -1))

    @property
    def time_bins(self) -> int:
        return self.t.shape[1]

    @property
    def freq_bins(self) -> int:
        return self.f.shape[2]


@dataclass
class Effect:
    """Effect maps of one class on its sub-batch (``None``: no effect of that kind).

    gain: multiplies the sky signal; add: brightness added to it; noise: multiplies the noise
    standard deviation; drop: bool, pixels whose data is lost (set to zero)."""

    gain: Tensor | None = None
    add: Tensor | None = None
    noise: Tensor | None = None
    drop: Tensor | None = None


#: A morphology ``(rng, grid, strength) -> Effect`` per anomaly class. Registration order is the
#: class id (1, 2, ...): ids are exported (the ``y`` column), so a new morphology is appended at
#: the end of this module (one function plus its decorator line), never inserted between others.
MORPHOLOGIES: Registry[Callable[[CounterRNG, Grid, Tensor], Effect]] = Registry("spectrogram morphology")

#: thresholds (at strength 1) that turn effect maps into the per-pixel anomaly mask; they scale
#: with each sample's strength, so the mask is the anomaly's footprint however faint it is drawn
MASK_GAIN = 0.1  # |gain - 1| above this
MASK_ADD = 0.2  # added brightness above this
MASK_NOISE = 0.5  # noise raised by more than 1 + this


def effect_mask(
    effect: Effect, shape: tuple[int, int, int], device: torch.device, strength: Tensor | None = None
) -> Tensor:
    """The pixels an effect touches: ``(n, T, F)`` bool. ``strength`` ``(n,)`` scales the thresholds
    (effects scale linearly with it)."""
    s = torch.ones(shape[0], device=device) if strength is None else strength.to(device)
    s = s.clamp(min=1e-6)[:, None, None]
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    if effect.gain is not None:
        mask |= (effect.gain - 1.0).abs() > MASK_GAIN * s
    if effect.add is not None:
        mask |= effect.add > MASK_ADD * s
    if effect.noise is not None:
        mask |= effect.noise > 1.0 + MASK_NOISE * s
    if effect.drop is not None:
        mask |= effect.drop
    return mask


def _c(v: Tensor) -> Tensor:
    """``(n,)`` -> ``(n, 1, 1)``; ``(n, K)`` -> ``(n, 1, 1, K)``."""
    return v[:, None, None] if v.dim() == 1 else v[:, None, None, :]


def sum_slots(v: Tensor) -> Tensor:
    """Sum over the last (slot) axis in a fixed order, so a pixel never depends on the batch size
    (a reduction kernel may group the additions differently for different shapes)."""
    total = v[..., 0]
    for k in range(1, v.shape[-1]):
        total = total + v[..., k]
    return total


def _bin_span(bins: Tensor, start: Tensor, length: Tensor, n_bins: int) -> Tensor:
    """Bool over ``bins``: the run of at least one bin starting at fraction ``start`` and
    lasting fraction ``length`` of ``n_bins``; ``start``/``length`` are ``(n,)`` or ``(n, K)``."""
    first = (start * n_bins).floor().to(torch.int64).clamp(0, n_bins - 1)
    count = (length * n_bins).round().to(torch.int64).clamp(min=1)
    b = bins if start.dim() == 1 else bins[..., None]
    return (b >= _c(first)) & (b < _c(first + count))


def _time_window(
    rng: CounterRNG,
    name: str,
    start: tuple[float, float],
    length: tuple[float, float],
    g: Grid,
    shape: tuple[int, ...] = (),
) -> Tensor:
    """A run of time bins: start and length drawn (as fractions) from streams ``<name>/start`` and
    ``<name>/length``; ``(n, T, 1)``, or ``(n, T, 1, K)`` for ``shape=(K,)``."""
    return _bin_span(
        g.t_bin, rng.uniform(f"{name}/start", shape, *start), rng.uniform(f"{name}/length", shape, *length), g.time_bins
    )


def _active(rng: CounterRNG, stream: str, most: int) -> Tensor:
    """``(n, most)`` bool: the first ``1 + U{0..most-1}`` of ``most`` slots are in use."""
    count = rng.integers(stream, (), high=most) + 1
    return torch.arange(most, device=rng.device)[None, :] < count[:, None]


@MORPHOLOGIES.register("oscillating_tile")
def oscillating_tile(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """A tile switching on and off: a square wave in time over a long stretch and a wide band."""
    period = _c(rng.uniform("tile/period", (), 0.04, 0.12))
    phase = _c(rng.uniform("tile/phase", ()))
    window = _time_window(rng, "tile", (0.0, 0.4), (0.5, 1.0), g)
    band = _bin_span(
        g.f_bin.transpose(1, 2),
        rng.uniform("tile/f_start", (), 0.0, 0.3),
        rng.uniform("tile/f_width", (), 0.4, 0.7),
        g.freq_bins,
    ).transpose(1, 2)
    on = torch.remainder(g.t / period + phase, 1.0) < 0.5
    amp = _c(rng.uniform("tile/amp", (), 0.4, 1.0)) * _c(strength)
    return Effect(gain=1.0 + amp * (on & window & band).to(torch.float32))


@MORPHOLOGIES.register("first_order_high_noise")
def first_order_high_noise(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """Broadband noise raised 4-10x (and the floor a little) over a long stretch of time."""
    window = _time_window(rng, "noise", (0.0, 0.5), (0.5, 1.0), g)
    factor = 1.0 + _c(rng.uniform("noise/factor", (), 3.0, 9.0)) * _c(strength)
    lift = 1.0 + _c(rng.uniform("noise/lift", (), 0.05, 0.2)) * _c(strength)
    w = window.to(torch.float32)
    return Effect(noise=1.0 + (factor - 1.0) * w, gain=1.0 + (lift - 1.0) * w)


@MORPHOLOGIES.register("first_order_data_loss")
def first_order_data_loss(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """A block of lost data: a stretch of time over the whole band (half the time) or a wide sub-band."""
    window = _time_window(rng, "loss1", (0.0, 0.8), (0.1, 0.5), g)
    whole = _c(rng.bernoulli("loss1/whole_band", (), 0.5))
    band = _bin_span(
        g.f_bin.transpose(1, 2),
        rng.uniform("loss1/f_start", (), 0.0, 0.5),
        rng.uniform("loss1/f_width", (), 0.3, 0.8),
        g.freq_bins,
    ).transpose(1, 2)
    return Effect(drop=window & (band | whole))


@MORPHOLOGIES.register("third_order_data_loss")
def third_order_data_loss(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """One to four narrow frequency bands (1-2% of the band each) lost over most of the time."""
    most = 4
    active = _active(rng, "loss3/count", most)
    start = rng.uniform("loss3/f_start", (most,))
    width = rng.uniform("loss3/f_width", (most,), 0.0, 0.02)
    bands = (_bin_span(g.f_bin.transpose(1, 2), start, width, g.freq_bins).transpose(1, 2) & _c(active)).any(-1)
    window = _time_window(rng, "loss3", (0.0, 0.3), (0.7, 1.0), g)
    return Effect(drop=bands & window)


@MORPHOLOGIES.register("lightning")
def lightning(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """One to four broadband flashes: a sharp onset in one time bin and an exponential decay."""
    most = 4
    active = _active(rng, "lightning/count", most).to(torch.float32)
    onset = rng.uniform("lightning/time", (most,), 0.05, 0.95)
    shortest = torch.tensor(0.6 / g.time_bins, device=rng.device)
    tau = torch.maximum(rng.uniform("lightning/decay", (most,), 0.004, 0.02), shortest)
    amp = rng.uniform("lightning/amp", (most,), 2.0, 8.0) * strength[:, None] * active
    dt = g.t[..., None] - _c(onset)  # (n, T, 1, K)
    started = dt >= -0.5 / g.time_bins
    pulse = torch.where(started, torch.exp(-dt.clamp(min=0.0) / _c(tau)), torch.zeros_like(dt)) * _c(amp)
    spectrum = 1.2 - 0.6 * g.f  # brighter at low frequency
    return Effect(add=sum_slots(pulse) * spectrum)


@MORPHOLOGIES.register("rfi_ionosphere_reflect")
def rfi_ionosphere_reflect(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """One to five narrowband lines (1-2 channels) that come and go and flicker in time."""
    most = 5
    active = _active(rng, "rfi/count", most).to(torch.float32)
    channel = rng.integers("rfi/channel", (most,), high=g.freq_bins)
    width = rng.integers("rfi/width", (most,), high=2) + 1
    amp = rng.uniform("rfi/amp", (most,), 1.0, 5.0) * strength[:, None] * active
    on = _time_window(rng, "rfi", (0.0, 0.5), (0.3, 1.0), g, (most,))
    period = rng.uniform("rfi/period", (most,), 0.1, 0.5)
    phase = rng.uniform("rfi/phase", (most,))
    flicker = 0.6 + 0.4 * torch.sin(2 * math.pi * (g.t[..., None] / _c(period) + _c(phase)))
    envelope = on.to(torch.float32) * flicker * _c(amp)  # (n, T, 1, K)
    f_bin = g.f_bin[..., None]
    line = ((f_bin >= _c(channel)) & (f_bin < _c(channel + width))).to(torch.float32)  # (n, 1, F, K)
    return Effect(add=sum_slots(envelope * line))


@MORPHOLOGIES.register("galactic_plane")
def galactic_plane(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """A broad smooth rise in power (x1.6-2.5 at the peak) over a long time range, steeper at low frequency."""
    centre = _c(rng.uniform("galaxy/centre", (), 0.2, 0.8))
    width = _c(rng.uniform("galaxy/width", (), 0.12, 0.3))
    amp = _c(rng.uniform("galaxy/amp", (), 0.6, 1.5)) * _c(strength)
    slope = _c(rng.uniform("galaxy/slope", (), 0.3, 1.0))
    bump = torch.exp(-0.5 * ((g.t - centre) / width) ** 2)
    return Effect(gain=1.0 + amp * bump * (1.0 + slope * (0.5 - g.f)))


@MORPHOLOGIES.register("source_in_sidelobes")
def source_in_sidelobes(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """A bright off-axis source: fringes across the whole spectrogram, 3-10 cycles in time, whose
    rate changes across the band."""
    cycles = _c(rng.uniform("sidelobe/cycles", (), 3.0, 10.0))
    tilt = _c(rng.uniform("sidelobe/tilt", (), -0.6, 0.6))
    phase = _c(rng.uniform("sidelobe/phase", ()))
    amp = (_c(rng.uniform("sidelobe/amp", (), 0.25, 0.6)) * _c(strength)).clamp(max=0.95)
    return Effect(gain=1.0 + amp * torch.cos(2 * math.pi * (cycles * g.t * (1.0 + tilt * (g.f - 0.5)) + phase)))


@MORPHOLOGIES.register("solar_storm")
def solar_storm(rng: CounterRNG, g: Grid, strength: Tensor) -> Effect:
    """One to three bright bursts drifting from high to low frequency within 5-25% of the time."""
    most = 3
    active = _active(rng, "solar/count", most).to(torch.float32)
    onset = rng.uniform("solar/time", (most,), 0.05, 0.8)
    duration = rng.uniform("solar/duration", (most,), 0.05, 0.25)
    f_start = rng.uniform("solar/f_start", (most,), 0.6, 1.0)
    f_end = rng.uniform("solar/f_end", (most,), 0.0, 0.4)
    width = rng.uniform("solar/width", (most,), 0.02, 0.06)
    amp = rng.uniform("solar/amp", (most,), 2.0, 6.0) * strength[:, None] * active
    progress = (g.t[..., None] - _c(onset)) / _c(duration)  # (n, T, 1, K)
    during = ((progress >= 0) & (progress <= 1)).to(torch.float32)
    centre = _c(f_start) + (_c(f_end) - _c(f_start)) * progress.clamp(0.0, 1.0)
    burst = torch.exp(-0.5 * ((g.f[..., None] - centre) / _c(width)) ** 2) * during * _c(amp)
    return Effect(add=sum_slots(burst))
