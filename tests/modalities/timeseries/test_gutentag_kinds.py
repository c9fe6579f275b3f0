"""GutenTAG's further base oscillations and anomaly kinds, each against its definition and, where
GutenTAG's own function can be called on the same input, against GutenTAG."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.signal
import scipy.special
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.base import BaseSeries, m_sequence
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, FixedPlacement, RandomPlacement
from anomaly_lab.modalities.timeseries.injectors import apply_events, channel_stats
from anomaly_lab.modalities.timeseries.kinds import pattern_shift_sources


def plain(shapes, t=500, **kw):
    kw = {"period": (40.0, 40.0), "amplitude": (1.0, 1.0), "offset": (0.0, 0.0), "noise": (0.0, 0.0), **kw}
    return BaseSeries(shapes, channels=len(shapes), length=t, **kw)


def cycles_of(seed, idx, c, t, period=40.0):
    phase = CounterRNG(seed, idx).uniform("base/phase", (1, c))  # (B, 1, C)
    return (torch.arange(t, dtype=torch.float32)[None, :, None] / period + phase).double()


def test_cosine_and_dirichlet_follow_their_formulas():
    x = plain(["cosine", "dirichlet"]).make(CounterRNG(0, [0, 1]))
    cyc = cycles_of(0, [0, 1], 2, 500)
    frac = cyc - torch.floor(cyc)
    assert torch.allclose(x[..., 0].double(), torch.cos(2 * math.pi * frac[..., 0]), atol=1e-5)
    expected = scipy.special.diric(2 * np.pi * cyc[..., 1].numpy(), 6)  # even n: period of two cycles
    assert np.allclose(x[..., 1].numpy(), expected, atol=1e-4)
    odd = plain(["dirichlet"], shape_options={"periodicity": 5}).make(CounterRNG(0, [0]))
    assert np.allclose(
        odd[0, :, 0].numpy(), scipy.special.diric(2 * np.pi * cycles_of(0, [0], 1, 500)[0, :, 0], 5), atol=1e-4
    )


def test_mls_is_scipy_m_sequence_cumulated_repeated_and_scaled():
    t, k = 600, 6
    x = plain(["mls"], t=t, shape_options={"complexity": k, "smoothing": 0.0}).make(CounterRNG(3, [0, 1]))
    seq = scipy.signal.max_len_seq(k)[0] * 2 - 1
    period = 2**k - 1
    shift = CounterRNG(3, [0, 1]).integers("base/mls_shift", (1,), period)[:, 0]
    for row in range(2):
        data = np.cumsum(np.roll(seq, -int(shift[row])))
        data = np.tile(data, t // period + 1)[:t]
        scaled = (data - data.min()) / (data.max() - data.min()) * 2 - 1  # MinMaxScaler((-1, 1))
        assert np.allclose(x[row, :, 0].numpy(), scaled, atol=1e-6)
    assert np.array_equal(m_sequence(k), seq)
    # GutenTAG's own mls with scipy's taps and a state equals ours at some rotation (a rotation per state)
    from gutenTAG.api import mls as gt_mls

    class FixedDraws:  # GutenTAG draws taps and the state; give it scipy's taps and a fixed state
        def __init__(self):
            self.calls = 0

        def integers(self, *args, size=None, **kw):
            self.calls += 1
            if self.calls == 1:
                return 1
            if self.calls == 2:
                return np.array([5])  # scipy's default taps for 6 bits
            return np.array([1, 0, 1, 1, 0][:size], dtype=np.int8)

    ours = {
        tuple(
            np.round(
                plain(["mls"], t=t, shape_options={"complexity": k, "smoothing": 0.0})
                .make(CounterRNG(3, [i]))[0, :, 0]
                .numpy(),
                4,
            )
        )
        for i in range(200)
    }
    theirs = gt_mls(FixedDraws(), t, 1.0, 0.0, k)
    assert tuple(np.round(theirs.astype(np.float32), 4)) in ours


def test_mls_smoothing_is_numpy_convolve_of_gutentags_gaussian():
    from scipy.stats import norm

    t, k = 300, 5
    x = plain(["mls"], t=t, shape_options={"complexity": k, "smoothing": 0.05}).make(CounterRNG(1, [0]))
    size = 5
    seq = scipy.signal.max_len_seq(k)[0] * 2 - 1
    shift = int(CounterRNG(1, [0]).integers("base/mls_shift", (1,), 2**k - 1)[0, 0])
    data = np.tile(np.cumsum(np.roll(seq, -shift)), (t + size) // (2**k - 1) + 1)[: t + size - 1]
    gauss = norm.pdf(np.linspace(-1.5, 1.4, size))
    data = np.convolve(data, gauss / gauss.sum(), "valid")
    scaled = (data - data.min()) / (data.max() - data.min()) * 2 - 1
    assert np.allclose(x[0, :, 0].numpy(), scaled, atol=1e-5)


def test_cylinder_bell_funnel_patterns():
    from anomaly_lab.modalities.timeseries.base import ShapeInput, cbf_patterns

    t, options = 2000, {"pattern_length_sd": 3.0, "pattern_amplitude_sd": 0.5}
    base = plain(["cylinder_bell_funnel"], t=t, shape_options=options)
    rng = CounterRNG(2, torch.arange(8))
    x = base.make(rng)[..., 0].double()
    period = torch.full((8, 1, 1), 40.0)
    frac = torch.zeros(8, t, 1)
    table = cbf_patterns(ShapeInput(rng, frac, frac, torch.tensor([0]), period, (40.0, 40.0), t, options))
    start, length, kind, amp, alive = (v[:, :, 0] for v in table)
    for row in range(8):  # test code: GutenTAG's placement loop, pattern by pattern
        expected = np.zeros(t)
        n = int(alive[row].sum())
        assert bool(alive[row, :n].all()) and not bool(alive[row, n:].any())  # placement stops, never skips
        assert 0 <= int(start[row, 0]) < 40 and t / 100 < n < t / 30
        for j in range(n):
            s0, n_j, a = int(start[row, j]), int(length[row, j]), float(amp[row, j])
            assert s0 + n_j < t
            if j:
                gap = s0 - int(start[row, j - 1] + length[row, j - 1])
                assert 0 <= gap < 40
            r = np.arange(n_j)
            shape = [r / n_j, r[::-1] / n_j, np.ones(n_j)][int(kind[row, j])]  # bell, funnel, cylinder
            expected[s0 : s0 + n_j] = a * shape
        assert int(start[row, n] + length[row, n]) >= t or n == start.shape[1]  # the next one does not fit
        assert np.allclose(x[row].numpy(), expected, atol=1e-5)


def test_random_mode_jump_channels_jump_together():
    base = BaseSeries(
        ["random_mode_jump"], channels=3, length=400, period=(20.0, 30.0), offset=(0.0, 0.0), noise=(0.0, 0.0)
    )
    x = base.make(CounterRNG(0, [0, 1]))
    amp = CounterRNG(0, [0, 1]).uniform("base/amplitude", (1, 3), 0.8, 1.2)
    modes = x / amp
    assert torch.allclose(modes[..., 0], modes[..., 1]) and torch.allclose(modes[..., 0], modes[..., 2])
    assert set(torch.unique(modes.round()).tolist()) == {-1.0, 1.0}
    block = int(torch.round(CounterRNG(0, [0]).uniform("base/rmj_period", (), 20.0, 30.0))[0])
    m = modes[0, :, 0]
    assert all(len(set(m[s : s + block].round().tolist())) == 1 for s in range(0, 400, block))


def test_formula_channels_match_gutentag():
    from gutenTAG.api import formula as gt_formula

    spec = {"base": 0, "operation": {"kind": "*", "operand": {"base": 1, "aggregation": {"kind": "max"}}}}
    base = plain(["sine", "sawtooth", "formula"], shape_options={"formula": spec})
    x = base.make(CounterRNG(0, [0]))[0].double().numpy()
    expected = gt_formula([x[:, 0], x[:, 1]], spec)
    assert np.allclose(x[:, 2], expected, atol=1e-6)
    with pytest.raises(ConfigError, match="earlier channel"):
        plain(["formula", "sine"], shape_options={"formula": {"base": 1}})
    with pytest.raises(ConfigError, match="shape_options.formula is not given"):
        plain(["sine", "formula"])
    with pytest.raises(ConfigError, match="unknown keys"):
        plain(["sine"], shape_options={"perodicity": 3})


def inject_one(kind, x, start, length, strength=1.0, sign=1, channel=0):
    place = FixedPlacement(
        [{"kind": kind, "start": start, "length": length, "channel": channel, "strength": strength, "sign": sign}]
    )
    rng = CounterRNG(0, list(range(x.shape[0])))
    return apply_events(x, place.place(rng, x.shape[1], x.shape[2]), rng)


@pytest.mark.parametrize("sign, strength, length", [(1, 1.0, 40), (-1, 2.0, 40), (1, 0.3, 9), (-1, 1.0, 101)])
def test_pattern_shift_matches_gutentag(sign, strength, length):
    from gutenTAG.anomalies.types.pattern_shift import AnomalyPatternShift, AnomalyPatternShiftParameters

    t = 400
    x = torch.sin(torch.arange(t, dtype=torch.float64) / 6)[None, :, None].float()
    y, labels = inject_one("pattern_shift", x, 100, length, strength, sign)
    w = max(1, length // 4)
    k = sign * min(w, max(1, round(strength * w / 2)))
    series = x[0, :, 0].double().numpy()
    protocol = SimpleNamespace(
        start=100,
        end=100 + length,
        subsequences=[],
        base_oscillation=SimpleNamespace(is_periodic=lambda: True, timeseries=series),
    )
    AnomalyPatternShift(AnomalyPatternShiftParameters(shift_by=k, transition_window=w)).generate(protocol)
    (theirs,) = protocol.subsequences
    assert np.allclose(y[0, 100 : 100 + length, 0].double().numpy(), theirs, atol=1e-6)
    assert torch.equal(y[0, :100], x[0, :100]) and torch.equal(y[0, 100 + length :], x[0, 100 + length :])
    assert bool(labels[0, 100 : 100 + length, 0].all()) and int(labels.sum()) == length


def test_pattern_shift_sources_and_minimum_length():
    src, plain_copy = pattern_shift_sources(torch.tensor([[20]]), torch.tensor([[2.0]]), torch.tensor([[1.0]]), 20)
    assert src[0, 0] == 0 and src[0, -1] == 14 and plain_copy.sum() == 10  # W = 5, k = 5: no end transition
    with pytest.raises(ConfigError, match="at least 4"):
        FixedPlacement([{"kind": "pattern_shift", "start": 0, "length": 3}])
    ev = RandomPlacement(kinds=["pattern_shift"], length=(1, 3)).place(CounterRNG(0, torch.arange(20)), 300, 1)
    assert bool((ev.length[ev.valid] == 4).all())


def test_mode_correlation_flips_the_mode_as_gutentag():
    from gutenTAG.anomalies.types.mode_correlation import AnomalyModeCorrelation, AnomalyModeCorrelationParameters
    from gutenTAG.base_oscillations import RandomModeJump

    t = 200
    modes = torch.where(torch.arange(t) // 20 % 2 == 0, 1.0, -1.0)[None, :, None]  # mean 0
    y, labels = inject_one("mode_correlation", modes, 60, 30)
    protocol = SimpleNamespace(
        start=60,
        end=90,
        subsequences=[],
        base_oscillation_kind=RandomModeJump.KIND,
        base_oscillation=SimpleNamespace(timeseries=modes[0, :, 0].double().numpy()),
    )
    AnomalyModeCorrelation(AnomalyModeCorrelationParameters()).generate(protocol)
    assert np.allclose(y[0, 60:90, 0].numpy(), protocol.subsequences[0])
    shifted = modes + 3.0  # an offset channel flips about its own mean
    y, _ = inject_one("mode_correlation", shifted, 60, 30)
    mu, _ = channel_stats(shifted)
    assert torch.allclose(y[0, 60:90, 0], 2 * mu[0, 0, 0] - shifted[0, 60:90, 0])
    assert bool(labels[0, 60:90].all()) and int(labels.sum()) == 30


def test_new_kinds_are_appended_and_opt_in():
    assert ALL_KINDS[:12] == (
        "extremum",
        "level_shift",
        "platform",
        "amplitude",
        "trend",
        "variance",
        "frequency",
        "pattern",
        "seed_point",
        "seed_wave",
        "gaussian_point",
        "gaussian_wave",
    )
    assert ALL_KINDS[12:] == ("pattern_shift", "mode_correlation")
    gen = TimeSeriesGenerator(
        length=300,
        channels=2,
        shapes=["random_mode_jump"],
        device="cpu",
        anomalies={"mode": "kinds", "kinds": ["mode_correlation", "pattern_shift"]},
    )
    b = gen.generate(range(32))
    kinds = set(b["event_kind"][b["event_kind"] >= 0].tolist())
    assert kinds == {12, 13}
    assert not bool(((b["x"] != b["clean"]) & ~b["labels"]).any())  # nothing changes outside the labels
