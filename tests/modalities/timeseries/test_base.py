"""Synthetic base series: shapes per channel, per-sample draws, errors."""

import math

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.base import SHAPES, BaseSeries


def make(shapes, **kw):
    kw = {"channels": len(shapes), "length": 400, "noise": 0.0, **kw}
    return BaseSeries(shapes, **kw)


def test_shapes_without_noise_follow_their_formulas():
    base = make(["sine", "square", "sawtooth"], period=(40.0, 40.0), amplitude=(2.0, 2.0), offset=(1.0, 1.0))
    x = base.make(CounterRNG(0, [0, 1]))
    assert x.shape == (2, 400, 3) and x.dtype == torch.float32
    sine, square, saw = x[..., 0], x[..., 1], x[..., 2]
    assert torch.allclose(sine.amax(1), torch.tensor(3.0), atol=5e-3)  # offset 1 + amplitude 2
    assert torch.allclose(sine.amin(1), torch.tensor(-1.0), atol=5e-3)
    assert set(torch.unique(square).tolist()) == {-1.0, 3.0}
    # a period of 40 steps: the sine repeats after 40 steps
    assert torch.allclose(sine[:, 40:], sine[:, :-40], atol=1e-4)
    assert torch.allclose(square[:, 40:], square[:, :-40]) or (square[:, 40:] != square[:, :-40]).float().mean() < 0.01
    assert float(saw.min()) >= -1.0 - 1e-5 and float(saw.max()) <= 3.0 + 1e-5
    # each sample draws its own phase
    assert not torch.allclose(sine[0], sine[1])


def test_ecg_has_one_r_peak_per_beat():
    base = make(["ecg"], period=(50.0, 50.0), amplitude=(1.0, 1.0), offset=(0.0, 0.0))
    x = base.make(CounterRNG(1, [0]))[0, :, 0]
    peaks = ((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 0.5)).sum()
    assert int(peaks) == 8  # 400 steps / 50 per beat; the R wave is the only bump above 0.5
    assert 0.5 < float(x.max()) <= 1.0 and float(x.min()) > -0.3  # the S wave dips, R is sampled near its top


def test_random_walk_and_polynomial_are_drawn_per_sample():
    base = make(["random_walk", "polynomial"], amplitude=(1.0, 1.0), offset=(0.0, 0.0))
    x = base.make(CounterRNG(2, [0, 1, 2]))
    poly = x[..., 1]
    steps = torch.arange(400, dtype=torch.float32) / 399
    # a quadratic in t/T exactly: third differences vanish
    assert float(poly.diff(n=3, dim=1).abs().max()) < 1e-4
    assert torch.allclose(poly[:, 0], torch.zeros(3), atol=1e-6)  # a t + b t^2 starts at 0
    assert not torch.allclose(x[0, :, 0], x[1, :, 0])
    assert steps.shape == (400,)


def test_noise_level_is_the_drawn_standard_deviation():
    base = BaseSeries(
        ["sine"],
        channels=1,
        length=20000,
        period=(50.0, 50.0),
        amplitude=(0.0, 0.0),
        offset=(0.0, 0.0),
        noise=(0.3, 0.3),
    )
    x = base.make(CounterRNG(0, [5]))
    assert float(x.std()) == pytest.approx(0.3, rel=0.03)


def test_channel_shapes_cycle_and_draws_do_not_depend_on_the_batch():
    base = BaseSeries(list(SHAPES), channels=8, length=64)
    assert base.channel_shapes == list(SHAPES) + list(SHAPES[:2])
    whole = base.make(CounterRNG(4, list(range(6))))
    alone = base.make(CounterRNG(4, [4]))
    assert torch.equal(whole[4:5], alone)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"shapes": ["circle"]}, "circle"),
        ({"shapes": []}, "empty"),
        ({"channels": 0}, "channels"),
        ({"period": (1.0, 4.0)}, "period"),
        ({"amplitude": (2.0, 1.0)}, "amplitude"),
        ({"noise": "loud"}, "noise"),
    ],
)
def test_bad_options_are_clear_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        BaseSeries(**kw)


def test_config_dict_round_trips():
    base = BaseSeries(["sine", "ecg"], channels=3, length=100, period=30)
    again = BaseSeries(**base.config_dict())
    assert again.config_dict() == base.config_dict()
    assert math.isclose(again.period[0], 30.0)


def _reference_shape(name, frac, cycles, n=6):
    """The shapes' direct formulas (fresh tensors, no in-place steps), for bit-for-bit comparison."""
    from anomaly_lab.modalities.timeseries.base import _ECG_WAVES

    if name == "sine":
        return torch.sin(2 * math.pi * frac)
    if name == "cosine":
        return torch.cos(2 * math.pi * frac)
    if name == "sawtooth":
        return 2 * frac - 1
    if name == "ecg":
        out = torch.zeros_like(frac)
        for a, mu, width in _ECG_WAVES:
            out = out + a * torch.exp(-((frac - mu) ** 2) / (2 * width * width))
        return out
    x = (2 * math.pi) * frac.double()
    half = torch.sin(x / 2)
    value = torch.where(half.abs() > 1e-9, torch.sin(n * x / 2) / (n * half), torch.ones_like(x))
    if n % 2 == 0:
        value = torch.where(torch.floor(cycles).remainder(2) == 1, -value, value)
    return value.to(torch.float32)


@pytest.mark.parametrize(
    ("name", "n"), [("sine", 0), ("cosine", 0), ("sawtooth", 0), ("ecg", 0), ("dirichlet", 5), ("dirichlet", 6)]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_in_place_shapes_give_their_direct_formulas_bit_for_bit(name, n, channels):
    """The shapes computed in their own tensor (sine, cosine, sawtooth, ecg) or in place (dirichlet)
    give the values of their direct formulas exactly, for a series of that shape alone and among
    other shapes; ecg's cut of exp's underflow (EXP_ZERO) changes no value."""
    from anomaly_lab.modalities.timeseries.base import SHAPE_REGISTRY, ShapeInput

    t = 3001
    period = torch.tensor([[[37.3, 51.0, 24.6][:channels]]]).expand(4, 1, channels)
    cycles = torch.arange(t, dtype=torch.float32)[None, :, None] / period + torch.rand(4, 1, channels)
    frac = torch.frac(cycles)
    expected = _reference_shape(name, frac, cycles, n)
    options = {"periodicity": n} if name == "dirichlet" else {}
    cols = torch.arange(channels)
    given = frac.clone()
    got = SHAPE_REGISTRY[name].obj(
        ShapeInput(CounterRNG(0, range(4)), given, cycles, cols, period, (20.0, 60.0), t, options)
    )
    assert got.dtype == torch.float32 and torch.equal(got, expected)
    if name == "ecg":
        from anomaly_lab.modalities.timeseries.base import EXP_ZERO

        narrow = -((frac - 0.36) ** 2) / (2 * 0.01 * 0.01)  # the Q wave's exp arguments
        assert float((narrow < EXP_ZERO).float().mean()) > 0.5  # most underflow: the cut is exercised
    shapes = [name, "square"] if name != "sine" else ["sine", "cosine"]
    plain = {"channels": 4, "length": 500, "noise": (0.0, 0.0), "offset": (0.0, 0.0), "amplitude": (1.0, 1.0)}
    base = BaseSeries(shapes * 2, shape_options=options or None, **plain)
    alone = BaseSeries([name], shape_options=options or None, **plain)
    rng = CounterRNG(3, [5, 9])
    assert torch.equal(base.make(rng)[:, :, 0::2], alone.make(rng)[:, :, 0::2])  # the same draws per channel


def test_exp_is_exactly_zero_below_exp_zero():
    """EXP_ZERO's claim, on the vectorised path and the scalar remainder: +0, never -0 or a denormal."""
    from anomaly_lab.modalities.timeseries.base import EXP_ZERO

    x = torch.linspace(-400.0, EXP_ZERO, 100_003)[:-1]
    assert float(x.max()) < EXP_ZERO
    for part in (x, x[:5].clone(), x[-7:].clone()):
        out = torch.exp(part)
        assert bool((out == 0).all()) and not bool(out.signbit().any())
    assert float(torch.exp(torch.tensor(EXP_ZERO + 0.2))) > 0  # just above: a denormal, computed as is


def test_random_walk_with_every_channel_or_some_is_the_cumulated_draw():
    walk = BaseSeries(
        ["random_walk"], channels=3, length=300, noise=(0.0, 0.0), offset=(0.0, 0.0), amplitude=(1.0, 1.0)
    )
    mixed = BaseSeries(
        ["sine", "random_walk"], channels=4, length=300, noise=(0.0, 0.0), offset=(0.0, 0.0), amplitude=(1.0, 1.0)
    )
    rng = CounterRNG(2, [0, 4])
    steps = rng.normal("base/walk", (300, 3))  # one column per channel up to the last walk channel
    assert torch.equal(walk.make(rng), steps.cumsum(1) * (2.0 / math.sqrt(300)))
    steps = rng.normal("base/walk", (300, 4))
    assert torch.equal(mixed.make(rng)[:, :, 1::2], steps[:, :, [1, 3]].cumsum(1) * (2.0 / math.sqrt(300)))


@pytest.mark.parametrize("name", ["random_walk", "polynomial", "mls", "cylinder_bell_funnel", "random_mode_jump"])
def test_phase_free_shapes_read_neither_frac_nor_cycles(name):
    """A shape marked phase_free gives the same values whether frac and cycles are given or None
    (so a series of such shapes can skip making them), alone and mixed with another such shape."""
    from anomaly_lab.modalities.timeseries.base import SHAPE_OPTIONS, SHAPE_REGISTRY, ShapeInput

    fn = SHAPE_REGISTRY[name].obj
    assert getattr(fn, "phase_free", False)
    t, rng = 700, CounterRNG(4, [1, 8, 30])
    cols = torch.tensor([0, 2])
    period = torch.full((3, 1, 2), 45.0)
    cycles = torch.rand(3, t, 2) * 20
    given = fn(ShapeInput(rng, torch.frac(cycles), cycles, cols, period, (40.0, 50.0), t, SHAPE_OPTIONS[name]))
    without = fn(ShapeInput(rng, None, None, cols, period, (40.0, 50.0), t, SHAPE_OPTIONS[name]))
    assert torch.equal(given, without) and given.shape == (3, t, 2)
    x = BaseSeries([name, "random_walk"], channels=4, length=t, noise=(0.0, 0.0)).make(rng)
    assert x.shape == (3, t, 4) and bool(torch.isfinite(x).all())
