import numpy as np
import pytest
import torch

from anomaly_lab.core.rng import CounterRNG, hash_bits, stream_id

M32 = np.uint64(0xFFFFFFFF)


def _fmix_np(h):
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & M32
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & M32
    return h ^ (h >> np.uint64(16))


def _absorb_np(h, w):
    return _fmix_np((h ^ _fmix_np((w + np.uint64(0x9E3779B9)) & M32)) & M32)


def reference_bits(seed, index, stream, count):
    """Pure numpy (uint64) restatement of the hash, to check the int64 torch version bit for bit."""
    with np.errstate(over="ignore"):
        key = _absorb_np(np.uint64(0x3C6EF372), np.uint64(seed) & M32)
        key = _absorb_np(key, np.uint64(seed >> 32) & M32)
        key = _absorb_np(key, np.uint64(stream_id(stream)))
        idx = np.asarray(index, dtype=np.uint64)
        h = _absorb_np(key, idx & M32)
        h = _absorb_np(h, (idx >> np.uint64(32)) & M32)
        return _absorb_np(h[:, None], np.arange(count, dtype=np.uint64)[None, :])


def test_bits_match_unsigned_reference():
    index = torch.tensor([0, 1, 2, 12345, 2**32 + 7, 2**40 + 3, 2_000_000_999])
    ours = hash_bits(2**33 + 5, index, "perspective", 6).numpy().astype(np.uint64)
    ref = reference_bits(2**33 + 5, index.numpy(), "perspective", 6)
    np.testing.assert_array_equal(ours, ref)
    assert ours.max() < 2**32


def test_sample_does_not_depend_on_batch():
    big = CounterRNG(7, torch.arange(1000)).uniform("u", (3, 4))
    alone = CounterRNG(7, torch.tensor([417])).uniform("u", (3, 4))
    shuffled_idx = torch.randperm(1000)
    shuffled = CounterRNG(7, shuffled_idx).uniform("u", (3, 4))
    assert torch.equal(big[417], alone[0])
    assert torch.equal(big[shuffled_idx], shuffled)


def test_uniform_moments_and_range():
    u = CounterRNG(0, torch.arange(50_000)).uniform("x", (4,))
    assert u.dtype == torch.float32 and float(u.min()) >= 0.0 and float(u.max()) < 1.0
    # mean 1/2 and variance 1/12, within ~5 standard errors for 200k values
    assert abs(float(u.mean()) - 0.5) < 5 * (1 / 12) ** 0.5 / 200_000**0.5
    assert abs(float(u.var()) - 1 / 12) < 0.002
    hist = torch.histc(u, bins=20, min=0, max=1)
    expected = u.numel() / 20
    chi2 = float(((hist - expected) ** 2 / expected).sum())
    assert chi2 < 50  # chi-square with 19 dof: p ~ 1e-4 at 45


def test_streams_seeds_and_counters_are_independent():
    r = CounterRNG(0, torch.arange(20_000))
    a = r.uniform("a", (2,))
    b = r.uniform("b", (1,))[:, 0]
    c = CounterRNG(1, torch.arange(20_000)).uniform("a", (1,))[:, 0]
    corr = torch.corrcoef(torch.stack([a[:, 0], a[:, 1], b, c]))
    off_diag = corr[~torch.eye(4, dtype=torch.bool)]
    assert float(off_diag.abs().max()) < 0.03  # ~4 standard errors at n=20k
    assert not torch.equal(a[:, 0], c)


def test_normal_moments():
    z = CounterRNG(3, torch.arange(40_000)).normal("n", (5,))
    assert abs(float(z.mean())) < 0.01
    assert abs(float(z.std()) - 1.0) < 0.01
    assert abs(float((z > 1.96).float().mean()) - 0.025) < 0.002


def test_integers_per_sample_bounds_and_uniformity():
    r = CounterRNG(5, torch.arange(30_000))
    high = torch.tensor([3, 7, 100])[torch.arange(30_000) % 3]
    k = r.integers("k", (), high=high)
    assert bool((k >= 0).all()) and bool((k < high).all())
    counts = torch.bincount(k[high == 7], minlength=7).float()
    assert float(counts.max() / counts.min()) < 1.15
    with pytest.raises(ValueError):
        r.integers("k", (), high=0)


def test_distinct_pair_covers_ordered_pairs_uniformly():
    a, b = CounterRNG(11, torch.arange(56_000)).distinct_pair("ab", 8)
    assert bool((a != b).all())
    counts = torch.bincount(a * 8 + b, minlength=64).reshape(8, 8)
    assert bool((counts.diagonal() == 0).all())
    off = counts[~torch.eye(8, dtype=torch.bool)].float()
    assert off.numel() == 56 and float(off.min()) > 800 and float(off.max()) < 1200  # expected 1000


def test_rejects_negative_or_2d_index():
    with pytest.raises(ValueError):
        hash_bits(0, torch.tensor([-1]), "x", 1)
    with pytest.raises(ValueError):
        hash_bits(0, torch.zeros(2, 2, dtype=torch.int64), "x", 1)


class _TorchPath(CounterRNG):
    """CounterRNG forced onto the int64 tensor-op hash a CUDA device uses, here on CPU."""

    def _raw(self, stream, count):
        from anomaly_lab.core.rng import _hash_words_torch

        return _hash_words_torch(self.index, self.seed, stream, count)

    def _numpy_words(self):
        return False


def test_cpu_numpy_path_gives_the_bits_of_the_tensor_path():
    index = torch.tensor([0, 3, 99, 2**31 + 1, 2**32 + 7, 2**45 + 11])
    for seed, stream, shape in ((0, "a", ()), (2**33 + 5, "noise", (7, 13)), (12, 5, (2500,))):
        np_rng, t_rng = CounterRNG(seed, index), _TorchPath(seed, index)
        assert torch.equal(np_rng.bits(stream, shape), t_rng.bits(stream, shape))
        assert torch.equal(np_rng.uniform(stream, shape, -3.0, 2.5), t_rng.uniform(stream, shape, -3.0, 2.5))
        assert torch.equal(np_rng.normal(stream, shape), t_rng.normal(stream, shape))  # odd and even counts
        assert torch.equal(np_rng.integers(stream, shape, 17, 3), t_rng.integers(stream, shape, 17, 3))
        high = torch.arange(2, 2 + len(index)).reshape(-1, *([1] * len(shape)))
        assert torch.equal(np_rng.integers(stream, shape, high), t_rng.integers(stream, shape, high))


def test_int32_finaliser_gives_the_words_of_the_uint32_one():
    """``_fmix32_i32`` (wrapping int32 multiplies, masked arithmetic shifts) against numpy's uint32
    finaliser and the Python-int one, edge words included (0, the sign bit, all ones)."""
    import numpy as np

    from anomaly_lab.core.rng import _fmix32_i32, _fmix32_int, _fmix32_np

    edges = np.array([0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 0xFFFF, 0x10000, 0x85EBCA6B], dtype=np.uint32)
    words = np.concatenate([edges, np.random.default_rng(0).integers(0, 2**32, 100_003, dtype=np.uint32)])
    h = torch.from_numpy(words.copy().view(np.int32))
    got = _fmix32_i32(h, torch.empty_like(h)).numpy().view(np.uint32)
    assert np.array_equal(got, _fmix32_np(words.copy()))
    assert [int(v) for v in got[: len(edges)]] == [_fmix32_int(int(w)) for w in edges]
    assert len(set(got[: len(edges)].tolist())) == len(edges)  # a bijection: no two edges collide


@pytest.mark.parametrize(
    ("block", "batch", "shape"), [(7, 5, (9,)), (40, 6, (3, 5)), (3, 2, (20_001,)), (10**6, 4, (33,))]
)
def test_cpu_normal_blocks_give_the_values_of_the_tensor_path(monkeypatch, block, batch, shape):
    """Blocks of rows, of columns, with short last blocks and an odd count, and one block for all."""
    monkeypatch.setattr(CounterRNG, "normal_block", block)
    index = torch.arange(batch) * 7 + 2**33
    z = CounterRNG(5, index).normal("n", shape)
    assert z.shape == (batch, *shape)
    assert torch.equal(z, _TorchPath(5, index).normal("n", shape))
    assert torch.equal(z[1:2], CounterRNG(5, index[1:2]).normal("n", shape))  # a row alone


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([1.5, 2.0], r"must be integers in \[0, 2\*\*63 - 1\]; got 1.5"),
        (torch.tensor([0.5]), "got a torch.float32 tensor"),
        ([2**70], "got 1180591620717411303424"),
        ([-1], "sample index -1 is negative"),
        ([True, False], "got True"),
    ],
)
def test_bad_sample_indices_are_one_line(indices, message):
    from anomaly_lab.core.errors import ConfigError
    from anomaly_lab.core.rng import as_sample_indices

    with pytest.raises(ConfigError, match=message):
        as_sample_indices(indices)


def test_sample_indices_from_lists_ranges_and_tensors():
    from anomaly_lab.core.rng import as_sample_indices

    for given in ([3, 4], range(3, 5), torch.tensor([3, 4], dtype=torch.int32), np.array([3, 4], dtype=np.uint8)):
        out = as_sample_indices(given)
        assert out.dtype == torch.int64 and out.tolist() == [3, 4]
    assert as_sample_indices([]).numel() == 0


def test_seed_must_fit_64_bits():
    from anomaly_lab.core.errors import ConfigError
    from anomaly_lab.core.rng import MAX_SEED, CounterRNG

    assert CounterRNG(MAX_SEED, [0]).seed == MAX_SEED
    for bad in (2**64, -1, 1.0, True):
        with pytest.raises(ConfigError, match="seed"):
            CounterRNG(bad, [0])
