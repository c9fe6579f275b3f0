"""Event placement: random (never overlapping, gaps kept, per-sample) and exact positions."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, KINDS, FixedPlacement, RandomPlacement, kind_weights
from anomaly_lab.modalities.timeseries.injectors import event_map


def test_random_events_never_overlap_and_keep_their_gaps():
    place = RandomPlacement(count=(2, 6), length=(5, 30), min_gap=4)
    ev = place.place(CounterRNG(0, torch.arange(300)), steps=200, channels=3)
    valid = ev.valid
    assert ev.start.shape == (300, 6)
    n = valid.sum(1)
    assert int(n.min()) >= 1 and int(n.max()) == 6
    for b in range(300):  # check the invariant row by row (test code, not a hot path)
        s, e = ev.start[b][valid[b]].tolist(), ev.end[b][valid[b]].tolist()
        assert s == sorted(s)
        assert s[0] >= 4 and e[-1] <= 200 - 4
        assert all(s[i + 1] - e[i] >= 4 for i in range(len(s) - 1))
    length = ev.length[valid]
    extremum = ev.kind[valid] == KINDS.index("extremum")
    assert bool((length[extremum] == 1).all())
    assert bool(((length[~extremum] >= 5) & (length[~extremum] <= 30)).all())
    assert bool(((ev.channel[valid] >= 0) & (ev.channel[valid] < 3)).all())


def test_events_that_do_not_fit_are_dropped_not_overlapped():
    place = RandomPlacement(kinds=["level_shift"], count=(5, 5), length=(40, 40), min_gap=10)
    ev = place.place(CounterRNG(1, torch.arange(20)), steps=150, channels=1)
    # 150 - 10 = 140 steps for (40 + 10)-step slots: two fit, three are dropped
    assert ev.valid.sum(1).tolist() == [2] * 20
    cover = event_map(ev, 150)
    assert int((cover >= 0).sum(1).max()) == 80


def test_kind_weights_and_channel_all_and_sign():
    assert kind_weights({"trend": 3, "variance": 1})[KINDS.index("trend")] == 0.75
    place = RandomPlacement(kinds={"trend": 1.0}, count=3, length=4, channels="all", sign="n")
    ev = place.place(CounterRNG(2, torch.arange(50)), steps=100, channels=2)
    assert set(ev.kind[ev.valid].tolist()) == {KINDS.index("trend")}
    assert bool((ev.channel[ev.valid] == -1).all()) and bool((ev.sign == -1).all())
    d = ev.as_dict()
    assert set(d) == {"event_start", "event_end", "event_kind", "event_channel"}


def test_placement_is_per_sample_whatever_the_batch():
    place = RandomPlacement()
    whole = place.place(CounterRNG(5, torch.arange(16)), 512, 4)
    alone = place.place(CounterRNG(5, torch.tensor([11])), 512, 4)
    for field in ("start", "length", "kind", "channel", "strength", "sign"):
        assert torch.equal(getattr(whole, field)[11:12], getattr(alone, field)), field


def test_fixed_positions_are_exact_and_overlaps_refused():
    place = FixedPlacement(
        [
            {"kind": "platform", "start": 10, "length": 5, "channel": 1, "strength": 2.0, "sign": -1},
            {"kind": "extremum", "start": 30, "length": 9},
        ]
    )
    ev = place.place(CounterRNG(0, [0, 1]), steps=50, channels=2)
    assert ev.start.tolist() == [[10, 30], [10, 30]]
    assert ev.length.tolist() == [[5, 1], [5, 1]]  # an extremum is one step
    assert ev.channel.tolist() == [[1, -1], [1, -1]]
    assert ev.kind[0].tolist() == [KINDS.index("platform"), KINDS.index("extremum")]
    assert ev.sign[:, 0].tolist() == [-1.0, -1.0] and ev.strength[:, 0].tolist() == [2.0, 2.0]
    with pytest.raises(ConfigError, match="overlap"):
        FixedPlacement([{"kind": "trend", "start": 10, "length": 10}, {"kind": "variance", "start": 15, "length": 3}])
    # different channels may share steps
    FixedPlacement(
        [
            {"kind": "trend", "start": 10, "length": 10, "channel": 0},
            {"kind": "variance", "start": 15, "length": 3, "channel": 1},
        ]
    )
    with pytest.raises(ConfigError, match="ends at step"):
        place.place(CounterRNG(0, [0]), steps=20, channels=2)
    with pytest.raises(ConfigError, match="channel"):
        place.place(CounterRNG(0, [0]), steps=50, channels=1)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"kinds": ["spike"]}, "spike"),
        ({"kinds": {"trend": 0}}, "positive weight"),
        ({"count": (3, 1)}, "count"),
        ({"length": 0}, "length"),
        ({"strength": (-1, 1)}, "strength"),
        ({"channels": "some"}, "channels"),
        ({"sign": "up"}, "sign"),
    ],
)
def test_bad_random_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        RandomPlacement(**kw)


def test_bad_fixed_options():
    with pytest.raises(ConfigError, match="empty"):
        FixedPlacement([])
    with pytest.raises(ConfigError, match="unknown keys"):
        FixedPlacement([{"kind": "trend", "start": 1, "width": 3}])
    with pytest.raises(ConfigError, match="sign"):
        FixedPlacement([{"kind": "trend", "start": 1, "sign": 2}])
    assert len(ALL_KINDS) == len(KINDS) + 4
