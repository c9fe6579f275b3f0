"""Spectrogram features for classical estimators: numbers on hand-made inputs."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.random_forest.features import band_stat_features, downsample_features, spectrogram_features


def test_downsample_is_block_means():
    x = torch.arange(2 * 4 * 8 * 8, dtype=torch.float32).reshape(2, 4, 8, 8)
    f = downsample_features(x, 2)
    assert f.shape == (2, 16)
    assert float(f[0, 0]) == pytest.approx(float(x[0, 0, :4, :4].mean()))
    assert float(f[1, 7]) == pytest.approx(float(x[1, 1, 4:, 4:].mean()))


def test_band_stats_numbers():
    x = torch.ones(1, 4, 8, 8)
    x[0, :, :, 2] = 0.0  # one lost channel
    x[0, :, 5, :] += 3.0  # one bright time bin (zero stays... at the lost channel: 3)
    f = band_stat_features(x, bands=4).reshape(1, 4, -1)
    per = 8 * 4 + 5
    assert f.shape == (1, 4, per)
    freq = f[0, 0, :16].reshape(4, 4)  # (band, [mean, std, min, max]) over channel pairs
    assert float(freq[1, 2]) == 0.0 and float(freq[1, 3]) == 4.0  # band 2-3 holds the zero and the burst
    time = f[0, 0, 16:32].reshape(4, 4)
    assert float(time[2, 3]) == 4.0 and float(time[0, 3]) == 1.0  # the burst lies in time segment 4-5
    zeros, t_step, f_step, t_peak, f_peak = f[0, 0, 32:].tolist()
    assert zeros == pytest.approx(7 / 64)  # the burst lifted one zero pixel to 3
    assert t_peak == pytest.approx(3.0 - 0.0, abs=0.2) and f_peak > 0.5
    assert t_step > 0 and f_step > 0


def test_features_are_batched_and_errors():
    x = torch.rand(6, 4, 16, 16)
    whole = spectrogram_features(x, "band_stats", bands=4)
    parts = torch.cat(
        [spectrogram_features(x[:2], "band_stats", bands=4), spectrogram_features(x[2:], "band_stats", bands=4)]
    )
    assert torch.allclose(whole, parts)
    with pytest.raises(ConfigError, match="model.features='fft'"):
        spectrogram_features(x, "fft")
    with pytest.raises(ConfigError, match="model.size=32"):
        spectrogram_features(x, "downsample", size=32)
    with pytest.raises(ConfigError, match="model.bands=0"):
        spectrogram_features(x, "band_stats", bands=0)
