"""Synthetic base series (the clean signal anomalies are injected into), batched on the device.

Channel ``c`` of every series follows the shape ``shapes[c % len(shapes)]``, so a channel means
the same thing in every sample (a detector can learn it); each sample draws its own period,
amplitude, phase, offset and noise from ``CounterRNG(seed, index)``. A shape is one function in
:data:`SHAPE_REGISTRY` (one decorator line), giving values of about [-1, 1] that are then scaled
``offset + amplitude * value``; options a shape takes are its registry defaults, set through
``shape_options``. Shapes (``frac`` the phase within the drawn period, ``cycles`` the periods
elapsed):

- ``sine``, ``cosine``, ``square``, ``sawtooth``: periodic waves of the drawn period (in steps);
- ``ecg``: a heartbeat-like wave, five Gaussian bumps per beat (P, Q, R, S, T waves), the
  wave-shape model of McSharry et al., "A dynamical model for generating synthetic
  electrocardiogram signals", IEEE TBME 50(3), 2003, placed at fixed phases of each beat;
- ``random_walk``: the cumulative sum of Gaussian steps, scaled to span about the amplitude;
- ``polynomial``: a quadratic trend ``a (t/T) + b (t/T)^2`` with drawn coefficients;
- ``dirichlet``: the periodic sinc ``diric(2 pi cycles, n) = sin(n x / 2) / (n sin(x / 2))``
  (``scipy.special.diric``, as GutenTAG), ``n = periodicity`` (for even ``n`` it repeats every
  two periods);
- ``mls``: GutenTAG's maximum length sequence: the m-sequence of ``complexity`` bits
  (``scipy.signal.max_len_seq``'s taps) as +-1 steps, cumulatively summed over one sequence
  period ``2**complexity - 1`` and repeated, smoothed by a Gaussian of ``int(100 smoothing)``
  steps (``numpy.convolve`` of ``norm.pdf(linspace(-1.5, 1.4, n))``, normalised, ``valid`` part)
  and min-max scaled to [-1, 1] over the series; each sample and channel starts the sequence at
  a drawn position (every nonzero LFSR state gives a rotation of the same sequence);
- ``cylinder_bell_funnel``: Saito's cylinder-bell-funnel patterns as GutenTAG places them: from
  a start in ``[0, P)`` (``P`` the drawn period, rounded, as the average pattern length), patterns
  of ``max(1, ceil(N(P, pattern_length_sd)))`` steps follow one another with gaps drawn in
  ``[0, P)`` while they end before the series does; each is a cylinder ``a``, a bell ``a r / n``
  or a funnel ``a (n - 1 - r) / n`` (``r`` the step within the pattern of ``n``), ``a`` drawn
  ``N(1, pattern_amplitude_sd)``, negated with probability 1/2; 0 between patterns (at most
  ``ceil(T / max(1, P_low - 3 pattern_length_sd)) + 4`` patterns a series);
- ``random_mode_jump``: GutenTAG's mode jumps: +-1 held for blocks of ``round(P)`` steps, with
  ``P`` and the block signs drawn once per series and shared by every such channel (so the
  channels jump together; ``mode_correlation`` anomalies break that);
- ``formula``: GutenTAG's formula over earlier channels (``shape_options.formula``, GutenTAG's
  format: ``{base: channel | formula, operation: {kind: + - * / **, operand: number | formula}}``
  or ``{base: ..., aggregation: {kind: sum | min | max | median | std | var}}``, an aggregation
  taken over the steps): the channel is the formula applied to the finished (noisy) channels
  before it, plus its own noise; its amplitude and offset are not used;

plus Gaussian noise of the drawn level on every channel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_interval, check_range
from anomaly_lab.core.registry import Registry
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.channelwise import channelwise, channelwise_

# (amplitude, phase within the beat, width) of the P, Q, R, S and T waves
_ECG_WAVES = ((0.12, 0.20, 0.025), (-0.15, 0.36, 0.010), (1.0, 0.40, 0.012), (-0.25, 0.44, 0.012), (0.30, 0.65, 0.040))


#: float32 exp underflows to exactly +0 below this (2**-150 = exp(-103.97); tested on the vectorised
#: and the scalar path). On CPU an underflowing exp costs about 20x a normal one (measured 46 ms
#: against 2.9 ms for 2.56 M values), so ``ecg`` sets arguments below it to -0 first and their results
#: to +0. (Results in the denormal range above it stay slow but are kept exactly.)
EXP_ZERO = -104.0


@dataclass
class ShapeInput:
    """What a shape function gets for its ``k`` channels: ``frac``/``cycles`` ``(B, T, k)``, the
    channel numbers ``cols``, the drawn ``period`` ``(B, 1, k)`` and its [low, high] range,
    the series length ``t``, the options (its registry defaults overridden by ``shape_options``).

    ``frac`` is the shape's own tensor: a shape marked :func:`writes_frac` may compute its values
    in it; such a shape does not read ``cycles``, which is then None when it is the only shape.
    When every shape of a series is marked :func:`phase_free`, both are None."""

    rng: CounterRNG
    frac: Tensor | None
    cycles: Tensor | None
    cols: Tensor
    period: Tensor
    period_range: tuple[float, float]
    t: int
    options: dict


SHAPE_REGISTRY: Registry[Callable[[ShapeInput], Tensor]] = Registry("base shape")
shape = SHAPE_REGISTRY.register


def writes_frac(fn: Callable[[ShapeInput], Tensor]) -> Callable[[ShapeInput], Tensor]:
    """Mark a shape that reads only ``frac`` (never ``cycles``) and may write its values into it.

    A series of one such shape is then made in one ``(B, T, C)`` tensor from the steps to the
    noisy values: on CPU every fresh full-size tensor costs its page faults (about 1 ms per
    2.5 MB measured here, as much as the sine itself), so the intermediates are not allocated."""
    fn.writes_frac = True
    return fn


def phase_free(fn: Callable[[ShapeInput], Tensor]) -> Callable[[ShapeInput], Tensor]:
    """Mark a shape that reads neither ``frac`` nor ``cycles`` (it draws its own values): a series
    of such shapes only skips making the two full-size tensors."""
    fn.phase_free = True
    return fn


@shape("sine")
@writes_frac
def sine(s: ShapeInput) -> Tensor:
    """sin(2 pi frac)."""
    return s.frac.mul_(2 * math.pi).sin_()  # the same float32 ops as torch.sin(2 * math.pi * frac)


@shape("square")
def square(s: ShapeInput) -> Tensor:
    """+1 for the first half of each period, -1 for the second."""
    return torch.where(s.frac < 0.5, 1.0, -1.0)


@shape("sawtooth")
@writes_frac
def sawtooth(s: ShapeInput) -> Tensor:
    """A ramp from -1 to 1 each period."""
    return s.frac.mul_(2).sub_(1)


@shape("ecg")
@writes_frac
def ecg(s: ShapeInput) -> Tensor:
    """Five Gaussian bumps per beat (McSharry et al.'s wave shapes)."""
    out = torch.zeros_like(s.frac)
    bump, keep = torch.empty_like(s.frac), torch.empty_like(s.frac)  # scratch for the five waves
    for a, mu, width in _ECG_WAVES:  # five waves per beat: a exp(-(frac - mu)^2 / (2 width^2))
        torch.sub(s.frac, mu, out=bump).pow_(2).neg_().div_(2 * width * width)
        # most of a beat for the narrow waves is below EXP_ZERO, where exp is exactly +0: those
        # arguments become -0 (exp 1, fast) and their results +0 (1 x 0); the rest is exp x 1
        torch.ge(bump, EXP_ZERO, out=keep)
        bump.mul_(keep).exp_().mul_(keep).mul_(a)
        out.add_(bump)  # 0 + the first wave, as before (keeps a zero's sign the same)
    return out


def _unit_steps(s: ShapeInput) -> Tensor:
    return torch.arange(s.t, dtype=torch.float32, device=s.rng.device)[None, :, None] / max(1, s.t - 1)


@shape("random_walk")
@phase_free
def random_walk(s: ShapeInput) -> Tensor:
    """Cumulative Gaussian steps, scaled by 2 / sqrt(T)."""
    k = int(s.cols.max()) + 1
    steps = s.rng.normal("base/walk", (s.t, k))
    if s.cols.numel() != k:  # only some channels: theirs (with every channel, cols is 0 .. k - 1)
        steps = steps[:, :, s.cols]
    return steps.cumsum_(1).mul_(2.0 / math.sqrt(s.t))


@shape("polynomial")
@phase_free
def polynomial(s: ShapeInput) -> Tensor:
    """a (t/T) + b (t/T)^2 with a, b drawn in [-1, 1]."""
    steps = _unit_steps(s)
    coef = s.rng.uniform("base/poly", (2, int(s.cols.max()) + 1), -1.0, 1.0)[:, :, s.cols]  # (B, 2, k)
    return coef[:, 0:1] * steps + coef[:, 1:2] * steps * steps


@shape("cosine")
@writes_frac
def cosine(s: ShapeInput) -> Tensor:
    """cos(2 pi frac)."""
    return s.frac.mul_(2 * math.pi).cos_()


@shape("dirichlet", defaults={"periodicity": 6})
def dirichlet(s: ShapeInput) -> Tensor:
    """The periodic sinc diric(2 pi cycles, n)."""
    n = s.options["periodicity"]
    x = s.frac.double().mul_(2 * math.pi)  # the double steps below in place: one tensor, not a dozen
    half = torch.div(x, 2).sin_()
    near = torch.le(half, 1e-9).logical_and_(torch.ge(half, -1e-9))  # |sin(x / 2)| <= 1e-9: the limit, 1
    value = x.mul_(n).div_(2).sin_().div_(half.mul_(n))  # sin(n x / 2) / (n sin(x / 2))
    value = value.masked_fill_(near, 1.0).to(torch.float32)
    # diric(x + 2 pi, n) = (-1)^(n - 1) diric(x, n): whole periods elapsed flip the sign for even n
    if n % 2 == 0:  # flipped after the rounding to float32, which rounds -v to exactly -round(v)
        odd = torch.floor(s.cycles).remainder_(2)  # 1 after an odd number of whole periods, else 0
        value.mul_(odd.mul_(-2).add_(1))  # times -1 or 1: exactly -value or value
    return value


@functools.lru_cache(maxsize=16)
def m_sequence(complexity: int) -> np.ndarray:
    """Scipy's m-sequence of ``complexity`` bits (its default taps) as +-1 steps, one period."""
    from scipy.signal import max_len_seq

    return max_len_seq(complexity)[0].astype(np.float64) * 2 - 1


@shape("mls", defaults={"complexity": 7, "smoothing": 0.01})
@phase_free
def mls(s: ShapeInput) -> Tensor:
    """GutenTAG's maximum length sequence, cumulated, smoothed and min-max scaled to [-1, 1]."""
    seq = torch.as_tensor(m_sequence(s.options["complexity"]), device=s.rng.device)
    period = seq.numel()
    size = int(s.options["smoothing"] * 100)
    size = size if size > 0 else 1
    k = int(s.cols.max()) + 1
    shift = s.rng.integers("base/mls_shift", (k,), period)[:, s.cols]  # (B, k): the LFSR's start
    rotated = seq[(torch.arange(period, device=seq.device)[None, :, None] + shift[:, None, :]) % period]
    sums = rotated.cumsum(1)  # (B, P, k): one period from that start, cumulated (then repeated)
    steps = torch.arange(s.t + size - 1, device=s.rng.device) % period
    data = sums[:, steps]  # (B, T + size - 1, k)
    if size > 1:
        from scipy.stats import norm

        kernel = norm.pdf(np.linspace(-1.5, 1.4, size))
        kernel = torch.as_tensor(kernel / kernel.sum(), device=data.device)
        b, n, kc = data.shape
        flat = data.permute(0, 2, 1).reshape(b * kc, 1, n)
        data = torch.nn.functional.conv1d(flat, kernel.flip(0)[None, None]).reshape(b, kc, s.t).permute(0, 2, 1)
    lo, hi = data.amin(1, keepdim=True), data.amax(1, keepdim=True)
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return data.sub_(lo).div_(span).mul_(2).sub_(1).to(torch.float32)  # data is this call's own tensor


def _below(u: Tensor, n: Tensor) -> Tensor:
    """Uniform integers in [0, n) from uniforms in [0, 1)."""
    return torch.minimum((u * n.to(torch.float32)).floor().to(torch.int64), n - 1)


def _pattern_limit(period_low: float, length_sd: float, t: int) -> int:
    return math.ceil(t / max(1.0, round(period_low) - 3 * length_sd)) + 4


def cbf_patterns(s: ShapeInput) -> tuple[Tensor, ...]:
    """The pattern table of ``cylinder_bell_funnel``, each ``(B, M, k)``: start, length, kind
    (0 bell, 1 funnel, 2 cylinder), signed amplitude, and whether the pattern is placed."""
    rng, t = s.rng, s.t
    k = int(s.cols.max()) + 1
    m = _pattern_limit(s.period_range[0], s.options["pattern_length_sd"], t)
    avg = torch.round(s.period[:, 0, :]).to(torch.int64).clamp(min=1)  # (B, k) average pattern length
    first = _below(rng.uniform("base/cbf_first", (k,))[:, s.cols], avg)  # (B, k), in [0, P)
    gaps = _below(rng.uniform("base/cbf_gaps", (m, k))[:, :, s.cols], avg[:, None, :])  # gap after each pattern
    spread = rng.normal("base/cbf_length", (m, k))[:, :, s.cols].double() * s.options["pattern_length_sd"]
    length = torch.ceil(avg[:, None, :].double() + spread).to(torch.int64).clamp(min=1)  # (B, m, k)
    step = length + gaps
    start = first[:, None, :] + step.cumsum(1) - step  # start_j = first + sum_{i<j} (length_i + gap_i)
    alive = start + length < t
    alive = alive & (alive.to(torch.int64).cumprod(1) > 0)  # placement stops at the first pattern that does not fit
    kind = rng.integers("base/cbf_kind", (m, k), 3)[:, :, s.cols]  # 0 bell, 1 funnel, 2 cylinder
    amp = 1.0 + s.options["pattern_amplitude_sd"] * rng.normal("base/cbf_amplitude", (m, k))[:, :, s.cols]
    flip = rng.bits("base/cbf_sign", (m, k))[:, :, s.cols] & 1 == 1
    return start, length, kind, torch.where(flip, -amp, amp), alive


@shape("cylinder_bell_funnel", defaults={"pattern_length_sd": 0.0, "pattern_amplitude_sd": 2.0})
@phase_free
def cylinder_bell_funnel(s: ShapeInput) -> Tensor:
    """Cylinder, bell and funnel patterns one after another with random gaps (GutenTAG's placement)."""
    t, device = s.t, s.rng.device
    start, length, kind, amp, alive = cbf_patterns(s)
    m = start.shape[1]
    b, kc = start.shape[0], start.shape[2]
    rows = b * kc
    width = t + 1
    marks = torch.zeros(rows * width + 1, dtype=torch.int64, device=device)
    slot = torch.arange(m, device=device)[None, :, None].expand(b, m, kc) + 1
    base = (torch.arange(rows, device=device).reshape(b, kc) * width)[:, None, :].expand(b, m, kc)
    marks.index_add_(0, (base + start)[alive], slot[alive])
    marks.index_add_(0, (base + start + length)[alive], -slot[alive])
    which = (marks.cumsum(0)[:-1].reshape(b, kc, width)[:, :, :t] - 1).permute(0, 2, 1)  # (B, T, k)
    inside = which >= 0
    idx = which.clamp(min=0)
    p_start = torch.take_along_dim(start, idx, 1)
    p_len = torch.take_along_dim(length, idx, 1).to(torch.float32)
    p_kind = torch.take_along_dim(kind, idx, 1)
    p_amp = torch.take_along_dim(amp, idx, 1)
    r = (torch.arange(t, device=device)[None, :, None] - p_start).to(torch.float32)
    value = torch.where(p_kind == 0, r / p_len, torch.where(p_kind == 1, (p_len - 1 - r) / p_len, 1.0))
    return torch.where(inside, p_amp * value, 0.0)


@shape("random_mode_jump")
@phase_free
def random_mode_jump(s: ShapeInput) -> Tensor:
    """+-1 held for blocks of round(P) steps, shared by every such channel of a series."""
    low, high = s.period_range
    block = torch.round(s.rng.uniform("base/rmj_period", (), low, high)).to(torch.int64).clamp(min=1)  # (B,)
    blocks = math.ceil(s.t / max(1, round(low))) + 1
    modes = torch.where(s.rng.bits("base/rmj_modes", (blocks,)) & 1 == 1, 1.0, -1.0)  # (B, blocks)
    which = torch.arange(s.t, device=s.rng.device)[None, :] // block[:, None]
    return torch.take_along_dim(modes, which, 1)[:, :, None].expand(-1, -1, s.cols.numel())


@shape("formula", defaults={"formula": None})
def formula(s: ShapeInput) -> Tensor:
    """A formula over earlier channels (filled in after they are finished; zeros here)."""
    return torch.zeros_like(s.frac)


FORMULA_OPERATIONS = {
    "+": torch.add,
    "-": torch.sub,
    "*": torch.mul,
    "/": torch.div,
    "**": torch.pow,
}
FORMULA_AGGREGATIONS = {
    "sum": lambda v: v.sum(1, keepdim=True),
    "min": lambda v: v.amin(1, keepdim=True),
    "max": lambda v: v.amax(1, keepdim=True),
    "median": lambda v: v.double().quantile(0.5, dim=1, keepdim=True).to(v.dtype),
    "std": lambda v: v.std(1, keepdim=True, correction=0),
    "var": lambda v: v.var(1, keepdim=True, correction=0),
}


def check_formula(spec, channel: int, where: str = "shape_options.formula") -> None:
    """Refuse a malformed formula or one that reads channel ``channel`` or later (one line)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}={spec!r} must be an object {{base: ..., operation|aggregation: ...}}")
    unknown = set(spec) - {"base", "operation", "aggregation"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}; allowed: base, operation, aggregation")
    if "operation" in spec and "aggregation" in spec:
        raise ConfigError(f"{where} gives both operation and aggregation; give one of them")
    base = spec.get("base")
    if isinstance(base, Mapping):
        check_formula(base, channel, f"{where}.base")
    elif isinstance(base, bool) or not isinstance(base, int) or not 0 <= base < channel:
        raise ConfigError(f"{where}.base={base!r} must be a formula or an earlier channel number in [0, {channel})")
    if "operation" in spec:
        op = spec["operation"]
        if not isinstance(op, Mapping) or op.get("kind") not in FORMULA_OPERATIONS:
            raise ConfigError(f"{where}.operation={op!r} needs kind one of {list(FORMULA_OPERATIONS)} and an operand")
        operand = op.get("operand")
        if isinstance(operand, Mapping):
            check_formula(operand, channel, f"{where}.operation.operand")
        elif isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise ConfigError(f"{where}.operation.operand={operand!r} must be a number or a formula")
    if "aggregation" in spec:
        agg = spec["aggregation"]
        if not isinstance(agg, Mapping) or agg.get("kind") not in FORMULA_AGGREGATIONS:
            raise ConfigError(f"{where}.aggregation={agg!r} needs kind one of {list(FORMULA_AGGREGATIONS)}")


def evaluate_formula(spec: Mapping, x: Tensor) -> Tensor:
    """A formula over the channels of ``x`` ``(B, T, C)``: ``(B, T)`` or ``(B, 1)`` for an aggregation."""
    base = spec["base"]
    value = evaluate_formula(base, x) if isinstance(base, Mapping) else x[:, :, base]
    if "operation" in spec:
        op = spec["operation"]
        operand = op["operand"]
        other = evaluate_formula(operand, x) if isinstance(operand, Mapping) else torch.tensor(float(operand))
        return FORMULA_OPERATIONS[op["kind"]](value, other.to(value.dtype))
    if "aggregation" in spec:
        return FORMULA_AGGREGATIONS[spec["aggregation"]["kind"]](value)
    return value


#: every shape's name, in registration order
ALL_SHAPES = SHAPE_REGISTRY.names
#: the first six shapes, which take no options (GutenTAG's further bases follow them in ALL_SHAPES)
SHAPES = ALL_SHAPES[:6]
#: options a shape takes, with their defaults
SHAPE_OPTIONS = {name: dict(entry.defaults) for name, entry in SHAPE_REGISTRY.items()}


def _pair(name: str, value, low: float = 0.0) -> tuple[float, float]:
    return check_interval(name, value, low)


class BaseSeries:
    """Makes clean ``(B, T, C)`` float32 series for a batch of sample indices.

    Args:
        shapes: shape of each channel, cycled over ``channels`` (see the module docstring).
        channels: number of channels C. length: number of steps T.
        period: [low, high] period in steps, drawn per sample and channel (periodic shapes; the
            average pattern length of ``cylinder_bell_funnel``, the block of ``random_mode_jump``).
        amplitude: [low, high] amplitude. offset: [low, high] constant added.
        noise: [low, high] standard deviation of the added Gaussian noise.
        shape_options: options of the shapes used (``periodicity``, ``complexity``, ``smoothing``,
            ``pattern_length_sd``, ``pattern_amplitude_sd``, ``formula``; see :data:`SHAPE_OPTIONS`).
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
        shape_options: Mapping | None = None,
    ):
        shapes = [shapes] if isinstance(shapes, str) else list(shapes)
        if not shapes:
            raise ConfigError(f"base shapes={shapes!r} is empty; choose from {list(ALL_SHAPES)}")
        for s in shapes:
            SHAPE_REGISTRY[s]  # an unknown name: one line listing the known ones
        check_range("channels", channels, 1, 1024, integer=True)
        check_range("length", length, 2, 10_000_000, integer=True)
        self.shapes = shapes
        self.channels, self.length = channels, length
        self.period = _pair("period", period, 2.0)
        self.amplitude = _pair("amplitude", amplitude)
        self.offset = _pair("offset", offset, -math.inf)
        self.noise = _pair("noise", noise)
        self.channel_shapes = [shapes[c % len(shapes)] for c in range(channels)]
        self.shape_options = self._check_options(dict(shape_options or {}))

    def _check_options(self, given: dict) -> dict:
        known = {k for opts in SHAPE_OPTIONS.values() for k in opts}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"shape_options has unknown keys {unknown}; allowed: {sorted(known)}")
        used = set(self.channel_shapes)
        if "dirichlet" in used:
            n = given.get("periodicity", SHAPE_OPTIONS["dirichlet"]["periodicity"])
            check_range("shape_options.periodicity", n, 2, 10_000, integer=True)
        if "mls" in used:
            check_range("shape_options.complexity", given.get("complexity", 7), 2, 15, integer=True)
            check_range("shape_options.smoothing", given.get("smoothing", 0.01), 0.0, 100.0)
        for key in ("pattern_length_sd", "pattern_amplitude_sd"):
            if key in given:
                check_range(f"shape_options.{key}", given[key], 0.0)
        if "formula" in used:
            formula_channels = [c for c, s in enumerate(self.channel_shapes) if s == "formula"]
            if given.get("formula") is None:
                raise ConfigError(
                    f"channels {formula_channels} have shape formula but shape_options.formula is not given; "
                    "give e.g. {base: 0, operation: {kind: '*', operand: 2.0}}"
                )
            check_formula(given["formula"], formula_channels[0])
        return given

    def config_dict(self) -> dict:
        out = {
            "shapes": self.shapes,
            "channels": self.channels,
            "length": self.length,
            "period": list(self.period),
            "amplitude": list(self.amplitude),
            "offset": list(self.offset),
            "noise": list(self.noise),
        }
        if self.shape_options:  # only when given, so older configs describe themselves as before
            out["shape_options"] = self.shape_options
        return out

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
        names = list(dict.fromkeys(self.channel_shapes))
        fns = [SHAPE_REGISTRY[name].obj for name in names]
        if all(getattr(fn, "phase_free", False) for fn in fns):
            frac = cycles = None
        else:  # (B, T, C): steps / period + phase, per-channel ops with long inner loops (channelwise)
            cycles = channelwise_("add", channelwise("div", steps.expand(1, t, c).contiguous(), period), phase)
            if len(names) == 1 and getattr(fns[0], "writes_frac", False):
                frac, cycles = cycles.frac_(), None  # the one tensor becomes the series (see writes_frac)
            else:
                frac = torch.frac(cycles)  # cycles >= 0, so this is cycles - floor(cycles)
        x = None if len(names) == 1 else torch.zeros(b, t, c, device=device)
        for name, fn in zip(names, fns, strict=True):  # a loop over shapes, not samples
            cols = torch.tensor([k for k, s in enumerate(self.channel_shapes) if s == name], device=device)
            defaults = SHAPE_OPTIONS[name]
            options = {**defaults, **{k: v for k, v in self.shape_options.items() if k in defaults}}
            if x is None:  # one shape: every channel is its own
                part = ShapeInput(rng, frac, cycles, cols, period, self.period, t, options)
            else:
                own = [None if v is None else v[:, :, cols] for v in (frac, cycles, period)]
                part = ShapeInput(rng, own[0], own[1], cols, own[2], self.period, t, options)
            value = fn(part)
            if x is None:  # one shape on every channel: its values are the series (written in place below)
                x = value.to(torch.float32).contiguous()
            else:
                x[:, :, cols] = value
        channelwise_("add", channelwise_("mul", x, amplitude), offset)  # offset + amplitude * x, in place
        added = channelwise_("mul", rng.normal("base/noise_values", (t, c)), noise)
        x.add_(added)
        if "formula" in self.channel_shapes:  # each formula channel from the finished channels before it
            spec = self.shape_options["formula"]
            for col in [k for k, s in enumerate(self.channel_shapes) if s == "formula"]:  # channels, not samples
                x[:, :, col] = evaluate_formula(spec, x[:, :, :col]).expand(b, t) + added[:, :, col]
        return x
