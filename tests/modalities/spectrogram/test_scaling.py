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


# -- the bracketing selection (big float32 planes on CPU) gives exactly what topk gives --------------
def _hostile_planes():
    g = torch.Generator().manual_seed(7)
    n_t, n_f = 96, 80  # 7,680 values a plane: above the bracketing threshold, not a power of two
    planes = [
        torch.rand(n_t, n_f, generator=g),
        torch.randn(n_t, n_f, generator=g).exp() * 1e7,  # heavy right tail, raw magnitudes
        torch.zeros(n_t, n_f),  # constant: every rank ties
        torch.randint(0, 3, (n_t, n_f), generator=g).float(),  # three values, heavy ties
        torch.arange(n_t * n_f, dtype=torch.float32).reshape(n_t, n_f),  # sorted: the stride sees a ramp
        torch.arange(n_t * n_f, dtype=torch.float32).flip(0).reshape(n_t, n_f),
        torch.where(torch.rand(n_t, n_f, generator=g) < 0.3, 0.0, torch.rand(n_t, n_f, generator=g)),  # 30% lost
        torch.randn(n_t, n_f, generator=g) * torch.linspace(1e-3, 1e3, n_f),  # negatives, widening
    ]
    stripes = torch.rand(n_t, n_f, generator=g)
    stripes[:, ::20] = 1e9  # a column the strided subsample may hit or miss entirely
    planes.append(stripes)
    spikes = torch.rand(n_t, n_f, generator=g)
    spikes.view(-1)[::97] = -5.0  # 1% of values far below: the low bracket sits on the edge
    planes.append(spikes)
    x = torch.stack(planes)  # 10 planes
    return torch.cat([x, x.flip(0)]).reshape(5, 4, n_t, n_f)


@pytest.mark.parametrize("q", [(1.0, 99.0), (0.0, 100.0), (5.0, 95.0), (50.0, 50.01), (0.001, 99.999), (30.0, 31.0)])
def test_bracketing_matches_topk_bit_for_bit(monkeypatch, q):
    from anomaly_lab.modalities.spectrogram import scaling

    x = _hostile_planes()
    fast_p, fast_y = channel_percentiles(x, q), percentile_scale(x, *q)
    monkeypatch.setattr(scaling, "_BRACKET_MIN_VALUES", 1 << 40)  # force the topk path
    slow_p, slow_y = channel_percentiles(x, q), percentile_scale(x, *q)
    assert torch.equal(fast_p, slow_p)
    assert torch.equal(fast_y, slow_y)
    want = np.percentile(x.double().numpy().reshape(5, 4, -1), q, axis=-1).transpose(1, 2, 0)
    np.testing.assert_allclose(fast_p.double().numpy(), want, rtol=1e-6, atol=1e-6)


def test_bracketing_falls_back_where_the_bracket_misses():
    from anomaly_lab.modalities.spectrogram.scaling import _bracketed_order_statistics

    g = np.random.default_rng(0)
    a = g.random((3, 8192), dtype=np.float32)
    a[1, ::21] = 0.5  # every value the subsample sees is the same: its bracket cannot hold rank 81
    a[2] = 1.0
    ranks = [(81, 82), (8109, 8110)]
    got = _bracketed_order_statistics(a, ranks)
    want = np.sort(a, axis=1)[:, [81, 82, 8109, 8110]]
    assert np.array_equal(got, want)


def test_planes_with_nan_take_the_topk_path(monkeypatch):
    from anomaly_lab.modalities.spectrogram import scaling

    x = torch.rand(1, 4, 80, 80)
    x[0, 1, 3, 3] = float("nan")
    x[0, 2] = float("nan")
    got = channel_percentiles(x, [1.0, 99.0])
    monkeypatch.setattr(scaling, "_BRACKET_MIN_VALUES", 1 << 40)
    torch.testing.assert_close(got, channel_percentiles(x, [1.0, 99.0]), rtol=0, atol=0, equal_nan=True)
    assert torch.isnan(got[0, 2]).all() and torch.isfinite(got[0, 1]).all()  # topk ranks NaN above all


def test_bracketing_selects_among_the_values_of_a_wide_bracket():
    from anomaly_lab.modalities.spectrogram.scaling import _bracketed_order_statistics

    g = np.random.default_rng(1)
    a = 1.0 + g.random((2, 8192), dtype=np.float32)
    a[:, :41] = 0.0  # 0.5% zeros, then 20% ties at 1.0: the bracket of rank 81 spans [0, 1], a fifth of the row
    a[:, 41:1679] = 1.0
    a = np.ascontiguousarray(g.permuted(a, axis=1))
    ranks = [(40, 41), (81, 82), (8109, 8110)]
    assert np.array_equal(_bracketed_order_statistics(a, ranks), np.sort(a, axis=1)[:, [40, 41, 81, 82, 8109, 8110]])
