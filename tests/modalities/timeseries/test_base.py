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
