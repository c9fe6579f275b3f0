"""The registry of time-series anomaly kinds: one function and one decorator line per kind.

A kind's function receives a :class:`Window`: the clean values inside each of its events (every
event of that kind in the batch, gathered into ``(N, L, C)``, ``L`` the longest such event) with
the event's parameters, and returns the anomalous values of the same shape. Only these windows are
computed and scattered back, never the whole ``(B, T, C)`` series (anomalies touch well under 1% of
the values). With ``mu`` and ``sd`` each channel's mean and standard deviation over the series,
``s`` an event's strength, ``g`` its sign (+1/-1) and ``r`` the step within the event of length
``L``:

- ``extremum`` (one step): ``x + 2 s g sd``;
- ``level_shift``: ``x + s g sd``;   ``platform``: the constant ``mu + s g sd``;
- ``amplitude``: ``mu + (x - mu) a`` with ``a = 1 + s`` (g > 0) or ``1 / (1 + s)``;
- ``trend``: ``x + 2 s g sd (r + 1) / L`` (a ramp);
- ``variance``: ``x + s sd n`` with Gaussian ``n``;
- ``frequency``: the series read ``f`` times faster (g > 0, ``f = 1 + s``) or slower
  (``1 / (1 + s)``) on from the step before the event, linearly interpolated: step ``r`` takes
  the value at ``start - 1 + (r + 1) f`` (so the event's first step already differs);
- ``pattern``: the shape bent, ``mu + sd sign(d) |d|^p`` with ``d = (x - mu) / sd`` and
  ``p = 1 / (1 + s)`` (squarer, g > 0) or ``1 + s`` (peakier);
- ``pattern_shift`` (GutenTAG's): the middle of the event moved ``k`` steps later (g > 0) or
  earlier, with transitions of ``W = L // 4`` steps at both ends that stretch and squeeze the
  series to make room: the first ``W`` values are resampled onto ``W + k`` steps, the middle
  ``L - 2W`` values follow unchanged, the last ``W`` values are resampled onto ``W - k`` steps
  (``numpy.interp`` over ``linspace(0, W, n)``, as GutenTAG does), ``k = g min(W, max(1,
  round(s W / 2)))``; events are at least 4 steps long;
- ``mode_correlation`` (GutenTAG's, for ``random_mode_jump`` channels): the series reflected
  about its mean, ``2 mu - x``, so a channel that jumps between two modes together with the others
  sits in the opposite mode (GutenTAG negates the series, which is the same for a mean-zero series).

The seed's modes (``seed_point``, ``seed_wave``, ``gaussian_point``, ``gaussian_wave``) are
registered here too, so their names and ids come from the same list, but they are made by
:class:`~anomaly_lab.modalities.timeseries.injectors.SeedNoise`, not per event.

A kind's id (``event_kind``, exported) is its position in the registry: append new kinds at the
end, never insert, so every exported id stays what it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from anomaly_lab.core import rng as _rng
from anomaly_lab.core.registry import Registry
from anomaly_lab.core.rng import CounterRNG


@dataclass
class Window:
    """The events of one kind in a batch, gathered: ``N`` events, ``L`` the longest of them.

    ``x`` ``(N, L, C)``: clean values at the event's steps (steps past an event's end, which are
    not written back, repeat the last step of the series); ``r`` ``(N, L, 1)`` the step within the
    event (float); ``start``/``length`` ``(N, 1, 1)`` int64; ``s``/``g`` ``(N, 1, 1)``;
    ``mu``/``sd`` ``(N, 1, C)``; ``row`` ``(N,)`` the batch row of each event; ``steps``
    ``(N, L)`` the series step of each window position; ``series`` the whole clean ``(B, T, C)``
    batch (for kinds that read outside the event) and ``normal`` a function giving the standard
    normals of a named stream at the window's positions.
    """

    x: Tensor
    r: Tensor
    start: Tensor
    length: Tensor
    s: Tensor
    g: Tensor
    mu: Tensor
    sd: Tensor
    row: Tensor
    steps: Tensor
    series: Tensor
    normal: Callable[[str], Tensor]


def normals_at(rng: CounterRNG, stream: str, grid: tuple[int, int], rows: Tensor, cells: Tensor) -> Tensor:
    """The values ``rng.normal(stream, grid)[rows, cells // C, cells % C]`` (``cells`` flat positions in
    the ``(T, C)`` grid), computed for those positions only.

    ``CounterRNG.normal`` turns the 32-bit words ``w[0..2h)`` (``h = ceil(T C / 2)``) into Box-Muller
    pairs: position ``k < h`` is the cosine branch of ``(w[k], w[h + k])``, position ``k >= h`` the sine
    branch of ``(w[k - h], w[k])``. Each word is a hash of (seed, sample, stream, counter), so the two
    words of a position can be hashed alone; the float steps are the same element-wise operations, so
    every value equals the whole-grid draw bit for bit (tested).
    """
    n = grid[0] * grid[1]
    half = (n + 1) // 2
    first = torch.where(cells < half, cells, cells - half)
    second = first + half
    low, high = _rng._index_words_torch(rng.index)  # (B,) int64 words of each sample's index
    key = _rng._stream_key(rng.seed, stream)
    h = _rng._fmix32(low ^ key)
    h = _rng._fmix32(h.bitwise_xor_(high))[rows]  # (M,) the per-sample state, for each position
    w1 = _rng._fmix32(h ^ _rng._fmix32((first + _rng._GOLDEN) & _rng._M32))
    w2 = _rng._fmix32(h ^ _rng._fmix32((second + _rng._GOLDEN) & _rng._M32))
    u1 = ((w1 >> 8).to(torch.float32) + 1.0) * (1.0 / (1 << 24))
    u2 = (w2 >> 8).to(torch.float32) * (2.0 * math.pi / (1 << 24))
    radius = torch.sqrt(-2.0 * torch.log(u1))
    return torch.where(cells < half, radius * torch.cos(u2), radius * torch.sin(u2))


KIND_REGISTRY: Registry[Callable[[Window], Tensor] | None] = Registry("anomaly kind")
kind = KIND_REGISTRY.register


@kind("extremum")
def extremum(w: Window) -> Tensor:
    """One step pushed out by two standard deviations: x + 2 s g sd."""
    return w.x + 2 * w.s * w.g * w.sd


@kind("level_shift")
def level_shift(w: Window) -> Tensor:
    """The level moved: x + s g sd."""
    return w.x + w.s * w.g * w.sd


@kind("platform")
def platform(w: Window) -> Tensor:
    """A constant stretch: mu + s g sd."""
    return (w.mu + w.s * w.g * w.sd).expand_as(w.x)


@kind("amplitude")
def amplitude(w: Window) -> Tensor:
    """Swings around the mean made larger (g > 0) or smaller."""
    return w.mu + (w.x - w.mu) * torch.where(w.g > 0, 1 + w.s, 1 / (1 + w.s))


@kind("trend")
def trend(w: Window) -> Tensor:
    """A ramp of 2 s g sd over the event."""
    return w.x + 2 * w.s * w.g * w.sd * (w.r + 1) / w.length.to(w.x.dtype)


@kind("variance")
def variance(w: Window) -> Tensor:
    """Gaussian noise of s standard deviations added."""
    return w.x + w.s * w.sd * w.normal("inject/variance").to(w.x.dtype)


@kind("frequency")
def frequency(w: Window) -> Tensor:
    """The series read faster (g > 0) or slower from the step before the event, interpolated."""
    x, t = w.series, w.series.shape[1]
    f = torch.where(w.g > 0, 1 + w.s, 1 / (1 + w.s))
    pos = (w.start.to(x.dtype) - 1 + (w.r + 1) * f).clamp(0, t - 1).expand(-1, -1, x.shape[2])
    lo = pos.floor().to(torch.int64)
    hi = (lo + 1).clamp(max=t - 1)
    weight = pos - lo.to(x.dtype)
    rows = w.row[:, None, None]
    chans = torch.arange(x.shape[2], device=x.device)[None, None, :]
    return x[rows, lo, chans] * (1 - weight) + x[rows, hi, chans] * weight


def _pow_like_whole_series(base: Tensor, exponent: Tensor) -> Tensor:
    """``base ** exponent`` for ``base`` ``(N, L, C)`` and one exponent per step ``(N, L, 1)``, with
    each value computed by the same kernel path as over the whole ``(B, T, C)`` series.

    CPU ``pow`` gives vectorised (SLEEF) results on full vector blocks and scalar ``std::pow``
    results on a loop's remainder, and the two can differ in the last bit. Over a whole series with
    one exponent per step, a single channel is one long contiguous loop (vectorised), while several
    channels make an inner loop over the channels with a broadcast exponent (a row of fewer than
    16 channels is all remainder). The window keeps that shape: several channels use the same
    ``(steps, C)`` layout; a single channel is computed as one contiguous run padded past a vector
    block, in pieces small enough not to be split across threads, so no value falls in a remainder.
    """
    exponent = exponent.expand(*base.shape[:2], 1).contiguous()
    if base.shape[2] > 1:
        return base.pow(exponent)
    flat_base, flat_exp = base.reshape(-1), exponent.reshape(-1)
    out = torch.empty_like(flat_base)
    pad = torch.ones(16, dtype=base.dtype, device=base.device)
    piece = 16384
    for lo in range(0, flat_base.numel(), piece):  # a loop over pieces of events' steps, not samples
        hi = min(flat_base.numel(), lo + piece)
        out[lo:hi] = torch.cat([flat_base[lo:hi], pad]).pow(torch.cat([flat_exp[lo:hi], pad]))[: hi - lo]
    return out.view_as(base)


@kind("pattern")
def pattern(w: Window) -> Tensor:
    """The shape bent squarer (g > 0) or peakier: mu + sd sign(d) |d|^p."""
    d = (w.x - w.mu) / w.sd
    p = torch.where(w.g > 0, 1 / (1 + w.s), 1 + w.s)
    return w.mu + w.sd * torch.sign(d) * _pow_like_whole_series(d.abs(), p)


kind("seed_point", summary="the seed's multiplicative noise on single rows (made by SeedNoise)")(None)
kind("seed_wave", summary="the seed's multiplicative noise on boxes of rows (made by SeedNoise)")(None)
kind("gaussian_point", summary="Gaussian noise scaled by the channel's sd on single rows (made by SeedNoise)")(None)
kind("gaussian_wave", summary="Gaussian noise scaled by the channel's sd on boxes of rows (made by SeedNoise)")(None)

#: the shortest event a pattern shift can be (a transition of at least one step at each end)
PATTERN_SHIFT_MIN_LENGTH = 4


def pattern_shift_sources(length: Tensor, s: Tensor, g: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """For events of ``length`` ``(N, 1)``, the source position (float64, in window steps) of each of
    ``width`` output steps and whether it is a plain copy: GutenTAG's two ``numpy.interp`` transitions
    around a moved middle (see the module docstring)."""
    n_events = length.shape[0]
    dev = length.device
    r = torch.arange(width, device=dev, dtype=torch.int64)[None, :].expand(n_events, -1)
    win = (length // 4).clamp(min=1)
    k = torch.minimum(win, torch.round(s.to(torch.float64) * win / 2).to(torch.int64).clamp(min=1))
    k = torch.where(g > 0, k, -k)
    n1, n2 = win + k, win - k
    middle_end = length - n2  # outputs [n1, middle_end) copy the middle
    step1 = win.to(torch.float64) / (n1 - 1).clamp(min=1).to(torch.float64)
    step2 = win.to(torch.float64) / (n2 - 1).clamp(min=1).to(torch.float64)
    head = r.to(torch.float64) * step1
    tail = (length - win).to(torch.float64) + (r - middle_end).to(torch.float64) * step2
    plain = (r >= n1) & (r < middle_end)
    src = torch.where(r < n1, head, torch.where(plain, (r - k).to(torch.float64), tail))
    # a resampled point beyond the last of its W source values takes that value (numpy.interp)
    last = torch.where(r < n1, win - 1, length - 1).to(torch.float64)
    return torch.minimum(src, last), plain


@kind("pattern_shift")
def pattern_shift(w: Window) -> Tensor:
    """The middle of the event moved k steps, with stretched and squeezed transitions (GutenTAG)."""
    src, _ = pattern_shift_sources(w.length[:, :, 0], w.s[:, :, 0], w.g[:, :, 0], w.x.shape[1])
    src = src.clamp(0, w.x.shape[1] - 1)
    lo = src.floor().to(torch.int64)
    hi = (lo + 1).clamp(max=w.x.shape[1] - 1)
    frac = (src - lo.to(torch.float64)).to(w.x.dtype)[:, :, None]
    c = w.x.shape[2]
    a = torch.gather(w.x, 1, lo[:, :, None].expand(-1, -1, c))
    b = torch.gather(w.x, 1, hi[:, :, None].expand(-1, -1, c))
    return a + (b - a) * frac


@kind("mode_correlation")
def mode_correlation(w: Window) -> Tensor:
    """The series reflected about its mean, 2 mu - x (GutenTAG's mode flip)."""
    return 2 * w.mu - w.x


#: every kind's name; ``event_kind`` is the position in this tuple
ALL_KINDS = KIND_REGISTRY.names
#: the kinds placed per event (GutenTAG's), in id order
KINDS = tuple(name for name in ALL_KINDS if KIND_REGISTRY[name].obj is not None)
#: the seed's noise modes, made by SeedNoise
SEED_KINDS = tuple(name for name in ALL_KINDS if KIND_REGISTRY[name].obj is None)
#: the kinds drawn when a config names none: the first eight, so draws at a fixed seed never change
#: when a kind is added (new kinds are opt-in: name them in ``anomalies.kinds``)
DEFAULT_KINDS = KINDS[:8]
