"""Injection: every kind's formula on a known series, labels equal to the footprint, and the
seed's noise modes (multiplicative points and boxes, additive Gaussian) with every changed row."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, DEFAULT_KINDS, FixedPlacement, RandomPlacement
from anomaly_lab.modalities.timeseries.injectors import SeedNoise, apply_events, channel_stats, event_map


def ramp_series(t=100, c=2):
    """Channel 0: a sine; channel 1: a line. Known mean and sd."""
    steps = torch.arange(t, dtype=torch.float64)
    return torch.stack([torch.sin(steps / 5), 0.1 * steps], -1)[None].repeat(2, 1, 1)[:, :, :c].to(torch.float32)


def inject(kind, x, start=40, length=10, channel=0, strength=1.5, sign=1):
    place = FixedPlacement(
        [{"kind": kind, "start": start, "length": length, "channel": channel, "strength": strength, "sign": sign}]
    )
    rng = CounterRNG(0, list(range(x.shape[0])))
    ev = place.place(rng, x.shape[1], x.shape[2])
    return apply_events(x, ev, rng)


@pytest.mark.parametrize(
    "kind", ["level_shift", "platform", "amplitude", "trend", "variance", "frequency", "pattern", "extremum"]
)
def test_each_kind_changes_exactly_its_footprint(kind):
    x = ramp_series()
    y, labels = inject(kind, x, channel=1 if kind == "pattern" else 0)
    ch = 1 if kind == "pattern" else 0
    width = 1 if kind == "extremum" else 10
    expected = torch.zeros_like(labels)
    expected[:, 40 : 40 + width, ch] = True
    assert torch.equal(labels, expected)
    assert torch.equal(y != x, expected)  # every labelled value changed, nothing else did


def test_kind_formulas():
    x = ramp_series()
    mu, sd = channel_stats(x)
    m, s = mu[0, 0, 0], sd[0, 0, 0]
    seg = x[0, 40:50, 0]
    y, _ = inject("level_shift", x, strength=1.5, sign=-1)
    assert torch.allclose(y[0, 40:50, 0], seg - 1.5 * s)
    y, _ = inject("platform", x, strength=1.5, sign=1)
    assert torch.allclose(y[0, 40:50, 0], (m + 1.5 * s).expand(10))
    y, _ = inject("amplitude", x, strength=1.0, sign=1)
    assert torch.allclose(y[0, 40:50, 0], m + 2.0 * (seg - m))
    y, _ = inject("amplitude", x, strength=1.0, sign=-1)
    assert torch.allclose(y[0, 40:50, 0], m + 0.5 * (seg - m))
    y, _ = inject("trend", x, strength=1.0, sign=1)
    assert torch.allclose(y[0, 40:50, 0], seg + 2 * s * torch.arange(1, 11) / 10)
    y, _ = inject("extremum", x, strength=2.0, sign=-1)
    assert torch.allclose(y[0, 40, 0], x[0, 40, 0] - 4 * s)
    # frequency: twice as fast, on from the step before the event
    y, _ = inject("frequency", x, channel=1, strength=1.0, sign=1)
    line = x[0, :, 1]
    assert torch.allclose(y[0, 40:50, 1], line[39] + 0.1 * 2 * torch.arange(1, 11))
    # pattern on a line around its mean: d -> sign(d)|d|^p
    y, _ = inject("pattern", x, channel=1, strength=1.0, sign=-1)
    m1, s1 = mu[0, 0, 1], sd[0, 0, 1]
    d = (line[40:50] - m1) / s1
    assert torch.allclose(y[0, 40:50, 1], m1 + s1 * torch.sign(d) * d.abs() ** 2)
    # variance: x + s sd n with the stream's normals
    y, _ = inject("variance", x, strength=1.0)
    n = (y[0, 40:50, 0] - seg) / s
    assert 0.2 < float(n.std()) < 3.0


def test_all_channel_events_and_batches_mixing_kinds():
    x = torch.randn(64, 200, 3, generator=torch.Generator().manual_seed(0))
    place = RandomPlacement(count=(1, 4), length=(3, 20), channels="all", min_gap=2)
    rng = CounterRNG(3, torch.arange(64))
    ev = place.place(rng, 200, 3)
    y, labels = apply_events(x, ev, rng)
    cover = event_map(ev, 200) >= 0
    assert torch.equal(labels, cover[:, :, None].expand(-1, -1, 3))
    assert not bool(((y != x) & ~labels).any())
    assert len(set(ev.kind[ev.valid].tolist())) == len(DEFAULT_KINDS)  # every default kind in one batch


def test_seed_points_are_multiplicative_and_exact():
    x = (torch.arange(1, 201, dtype=torch.float64)[:, None] * torch.tensor([1.0, -2.0, 0.0])).expand(3, -1, -1)
    inj = SeedNoise(ratio=0.05, noise=0.1, direction="p")
    y, labels, ev = inj.apply(x, CounterRNG(0, [0, 1, 2]))
    assert inj.count(200) == 10
    rows = labels[..., 0]
    assert rows.sum(1).tolist() == [10, 10, 10]
    assert torch.equal(labels[..., 0], labels[..., 1]) and torch.equal(labels[..., 0], labels[..., 2])
    assert torch.equal(y[rows], x[rows] + 0.1 * x[rows])  # the seed's x += noise * x
    assert torch.equal(y[~rows], x[~rows])
    assert torch.equal(y[..., 2], x[..., 2])  # zeros never change
    assert not torch.equal(rows[0], rows[1])  # each series draws its own rows
    assert ev.kind[0, 0].item() == ALL_KINDS.index("seed_point") and ev.start.shape == (3, 10)
    y, labels, _ = SeedNoise(ratio=0.05, noise=0.1, direction="n").apply(x, CounterRNG(0, [0, 1, 2]))
    assert torch.equal(y[labels], (x - 0.1 * x)[labels])


def test_seed_count_is_int_of_rows_times_ratio():
    assert SeedNoise(ratio=0.005).count(8143) == 40
    assert SeedNoise(ratio=0.01).count(99) == 0
    y, labels, ev = SeedNoise(ratio=0.01).apply(torch.ones(1, 99, 1), CounterRNG(0, [0]))
    assert not bool(labels.any()) and torch.equal(y, torch.ones(1, 99, 1)) and ev.start.shape == (1, 0)


def test_seed_waves_stack_and_report_every_changed_row():
    x = torch.full((4, 300, 2), 10.0, dtype=torch.float64)
    inj = SeedNoise(ratio=0.04, noise=0.1, direction="p", wave=True, wave_length=15)
    y, labels, ev = inj.apply(x, CounterRNG(7, torch.arange(4)))
    assert ev.start.shape == (4, 12) and bool((ev.length == 15).all())
    cover = torch.zeros(4, 300, dtype=torch.float64)
    for b in range(4):
        for s in ev.start[b].tolist():
            cover[b, s : s + 15] += 1
    assert torch.equal(labels[..., 0], cover > 0)  # every row of every box
    assert torch.allclose(y[..., 0], 10.0 * (1 + 0.1 * cover))  # overlapping boxes stack
    assert float(cover.max()) >= 2  # this seed has overlaps
    assert bool((ev.start <= 300 - 15).all())


def test_gaussian_noise_is_scaled_by_the_channel_sd_and_signed():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 400, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 10.0])
    _, sd = channel_stats(x)
    for direction in ("p", "n", "both"):
        inj = SeedNoise(ratio=0.1, noise=0.5, direction=direction, kind="gaussian")
        y, labels, _ = inj.apply(x, CounterRNG(2, torch.arange(8)))
        delta = (y - x) / (0.5 * sd)
        assert torch.equal(y != x, labels)
        if direction == "p":
            assert bool((delta[labels] > 0).all())
        elif direction == "n":
            assert bool((delta[labels] < 0).all())
        else:
            assert bool((delta[labels] > 0).any()) and bool((delta[labels] < 0).any())
        assert 0.5 < float(delta[labels].abs().mean()) < 1.1  # |N(0,1)| has mean 0.80
    assert inj.kind_id() == ALL_KINDS.index("gaussian_point")


def test_seed_noise_columns_and_errors():
    x = torch.ones(1, 50, 3)
    y, labels, _ = SeedNoise(ratio=0.2, noise=1.0, columns=[1]).apply(x, CounterRNG(0, [0]))
    assert bool(labels[..., 1].any()) and not bool(labels[..., [0, 2]].any())
    assert torch.equal(y[..., 1][labels[..., 1]], torch.full((10,), 2.0))
    with pytest.raises(ConfigError, match="out of range"):
        SeedNoise(columns=[5]).apply(x, CounterRNG(0, [0]))
    with pytest.raises(ConfigError, match="noise_direction"):
        SeedNoise(direction="up")
    with pytest.raises(ConfigError, match="wave_length"):
        SeedNoise(wave=True, wave_length=0)
    with pytest.raises(ConfigError, match="longer than the series"):
        SeedNoise(ratio=0.5, wave=True, wave_length=60).apply(x, CounterRNG(0, [0]))
    with pytest.raises(ConfigError, match="anomaly_normal_ratio"):
        SeedNoise(ratio=1.5)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 3e3])
@pytest.mark.parametrize(("steps", "channels"), [(2, 1), (777, 4), (10_000, 2)])
def test_two_pass_std_gives_torch_std_bit_for_bit(scale, steps, channels):
    """The CPU two-pass sd is torch's float32 std value for value (periodic, noisy and offset series)."""
    from anomaly_lab.modalities.timeseries.injectors import _std_over_time

    g = torch.Generator().manual_seed(steps + channels)
    t = torch.arange(steps, dtype=torch.float32)[None, :, None]
    x = torch.sin(t * 0.07 + torch.rand(32, 1, channels, generator=g) * 6) + 0.1 * torch.randn(
        32, steps, channels, generator=g
    )
    x = (x * scale + 40 * scale * torch.rand(32, 1, channels, generator=g)).contiguous()
    before = x.clone()
    assert torch.equal(_std_over_time(x), x.std(1, keepdim=True))
    assert torch.equal(x, before)  # the input is left as it was
    wide = x.double()
    assert torch.equal(_std_over_time(wide), wide.std(1, keepdim=True)) and torch.equal(wide, before.double())
    x[0, steps // 2, 0] = float("nan")  # a missing value spoils its own channel only, as in torch
    got = _std_over_time(x)
    assert torch.isnan(got[0, 0, 0]) and torch.equal(got[1:], x[1:].std(1, keepdim=True))


@pytest.mark.parametrize("block_rows", [0, 1, 5, 32, 100])
@pytest.mark.parametrize(("steps", "channels"), [(3, 1), (777, 4), (2_000, 5)])
def test_two_pass_std_is_the_same_in_any_block_of_series(monkeypatch, block_rows, steps, channels):
    """The sd runs over blocks of whole series in a reused scratch: any block size (one series,
    a partial last block, the whole batch) gives the same values, torch's std, and leaves x as it was."""
    from anomaly_lab.modalities.timeseries import injectors

    g = torch.Generator().manual_seed(11 * steps + channels)
    x = (torch.randn(32, steps, channels, generator=g) * 3 + torch.rand(32, 1, channels, generator=g) * 50).contiguous()
    before = x.clone()
    monkeypatch.setattr(injectors, "STD_BLOCK", block_rows * steps * channels)
    got = injectors._std_over_time(x)
    assert got.shape == (32, 1, channels) and got.dtype == torch.float32
    assert torch.equal(got, x.std(1, keepdim=True))
    assert torch.equal(x, before)


def test_a_mixed_batch_writes_each_kind_as_that_kind_alone_would():
    """Events of every kind gathered together (one slice per kind, windows of different widths, an
    event running past the series end) give each kind's values and labels bit for bit as a batch
    holding only that kind's events, and leave every other value as it was."""
    from anomaly_lab.modalities.timeseries.events import Events

    x = torch.randn(24, 120, 3, generator=torch.Generator().manual_seed(5))
    kinds = ["extremum", "level_shift", "platform", "amplitude", "trend", "variance", "frequency", "pattern"]
    kinds += ["pattern_shift", "mode_correlation"]
    place = RandomPlacement(kinds=kinds, count=(2, 5), length=(4, 30), channels="one", min_gap=1)
    rng = CounterRNG(8, torch.arange(100, 124))
    ev = place.place(rng, 120, 3)
    ev.start[0, 0], ev.length[0, 0] = 110, 25  # past the end: only steps 110 .. 119 are written
    ev.kind[0, 0] = ALL_KINDS.index("trend")
    ev.kind[0, 1:] = -1
    y, labels = apply_events(x, ev, rng)
    present = sorted(set(ev.kind[ev.valid].tolist()))
    assert len(present) == len(kinds)
    seen = torch.zeros_like(labels)
    for k in present:
        own = ev.kind == k
        alone = Events(
            *(
                torch.where(own, f, torch.full_like(f, -1) if f is ev.kind else f)
                for f in (ev.start, ev.length, ev.kind, ev.channel, ev.strength, ev.sign)
            )
        )
        y_k, labels_k = apply_events(x, alone, rng)
        assert torch.equal(labels & labels_k, labels_k)
        assert torch.equal(y[labels_k], y_k[labels_k])
        seen |= labels_k
    assert torch.equal(seen, labels)
    assert torch.equal(y[~labels], x[~labels])
    assert bool(labels[0, 110:, :].any()) and not bool(labels[0, :110].any())
