"""The floors that bench/timeseries.py and bench/spectrogram.py quote beside their ratios time the
draws the generators really make: the same streams, as many values, for the same samples."""

import os
import sys
from collections import Counter

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import spectrogram as spectrogram_bench  # noqa: E402
import timeseries as timeseries_bench  # noqa: E402

from anomaly_lab.core.rng import CounterRNG  # noqa: E402
from anomaly_lab.modalities.spectrogram import SpectrogramGenerator  # noqa: E402


@pytest.fixture
def normal_draws(monkeypatch):
    """Every ``_normal_blocks`` call: (stream, pairs a row) -> the sample indices drawn."""
    calls: dict[tuple[str, int], Counter] = {}
    real = CounterRNG._normal_blocks

    def record(self, stream, half, out=None):
        calls.setdefault((stream, half), Counter()).update(self.index.tolist())
        return real(self, stream, half, out)

    monkeypatch.setattr(CounterRNG, "_normal_blocks", record)
    return calls


@pytest.mark.parametrize("channels", [1, 4])
def test_timeseries_floor_is_the_base_noise_the_generator_draws(monkeypatch, normal_draws, channels):
    monkeypatch.setattr(timeseries_bench, "LENGTH", 301)
    monkeypatch.setattr(timeseries_bench, "BATCH", 5)
    gen = timeseries_bench._ours("sine", channels)
    gen.generate(torch.arange(10, 15))
    made = {k: dict(v) for k, v in normal_draws.items()}
    normal_draws.clear()
    timeseries_bench._noise_alone(10, channels)
    floor = {k: dict(v) for k, v in normal_draws.items()}
    key = ("base/noise_values", (301 * channels + 1) // 2)  # one normal a value: pairs a row
    assert floor == {key: {i: 1 for i in range(10, 15)}}
    assert made[key] == floor[key]


def test_spectrogram_floor_is_the_pixel_noise_the_generator_draws(normal_draws):
    gen = SpectrogramGenerator(64, 64, seed=0, device="cpu")
    idx = torch.arange(3, 9)
    gen.generate(idx)
    made = {k: dict(v) for k, v in normal_draws.items() if k[0].startswith("noise/")}
    normal_draws.clear()
    spectrogram_bench._noise_alone(idx, 64)
    floor = {k: dict(v) for k, v in normal_draws.items()}
    assert floor == made
    assert sorted(s for s, _ in floor) == ["noise/XX", "noise/XY", "noise/YX", "noise/YY", "noise/common"]
    assert all(v == {i: 1 for i in range(3, 9)} for v in floor.values())
