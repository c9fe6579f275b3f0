"""Per-sample, per-channel percentile scaling against numpy."""

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.spectrogram.scaling import apply_scaling, channel_percentiles, percentile_scale


def test_percentiles_match_numpy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, 17, 13, generator=g) * torch.tensor([1.0, 10.0, 100.0, 1e6]).view(1, 4, 1, 1)
    got = channel_percentiles(x.double(), [1.0, 50.0, 99.0])
    want = np.percentile(x.double().numpy().reshape(3, 4, -1), [1.0, 50.0, 99.0], axis=-1).transpose(1, 2, 0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_scaling_maps_each_plane_to_unit_range_by_its_own_percentiles():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 4, 32, 32, generator=g, dtype=torch.float64)
    x[1, 2] *= 1e7  # another plane's scale must not matter
    y = percentile_scale(x)
    flat = x.numpy().reshape(2, 4, -1)
    lo, hi = np.percentile(flat, 1, axis=-1), np.percentile(flat, 99, axis=-1)
    want = np.clip((flat - lo[..., None]) / (hi - lo)[..., None], 0, 1)
    np.testing.assert_allclose(y.numpy().reshape(2, 4, -1), want, rtol=1e-9, atol=1e-12)
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0
    # about 1% of each plane is clipped at either end
    assert 0.005 < float((y[0, 0] == 0).double().mean()) < 0.02


def test_flat_plane_becomes_zero_and_other_scalings():
    x = torch.full((1, 4, 8, 8), 5.0)
    assert torch.equal(percentile_scale(x), torch.zeros_like(x))
    assert torch.allclose(apply_scaling(torch.full((1, 1, 2, 2), 99.0), "log"), torch.full((1, 1, 2, 2), 2.0))
    assert apply_scaling(x, "none") is x
    with pytest.raises(ConfigError, match="scale='zscore'"):
        apply_scaling(x, "zscore")
    with pytest.raises(ConfigError, match="low < high"):
        percentile_scale(x, 99.0, 1.0)
