"""SpectrogramGenerator: per-sample determinism, class laws, labels and masks, physics of the
normal sky, errors."""

import json

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.spectrogram import CLASS_NAMES, ROAD_CONTAMINATION, SpectrogramGenerator


def gen(**kw):
    kw.setdefault("time_bins", 32)
    kw.setdefault("freq_bins", 32)
    kw.setdefault("device", "cpu")
    return SpectrogramGenerator(seed=kw.pop("seed", 7), **kw)


def test_shapes_dtypes_and_ranges():
    b = gen(freq_bins=24).generate(torch.arange(20))
    assert b["x"].shape == (20, 4, 32, 24) and b["x"].dtype == torch.float32
    assert b["mask"].shape == (20, 32, 24) and b["mask"].dtype == torch.bool
    assert b["y"].dtype == torch.int64 and torch.equal(b["anomalous"], (b["y"] > 0).long())
    assert float(b["x"].min()) == 0.0 and float(b["x"].max()) == 1.0  # percentile scaling, clipped
    assert torch.isfinite(b["x"]).all()


def test_sample_is_the_same_alone_in_any_batch_and_order():
    g = gen()
    big = g.generate(torch.arange(100, 164))
    alone = g.generate(torch.tensor([137]))
    shuffled = g.generate(torch.tensor([150, 137, 101]))
    for key in ("x", "y", "mask", "strength"):
        assert torch.equal(alone[key][0], big[key][37])
        assert torch.equal(shuffled[key][1], big[key][37])
        assert torch.equal(shuffled[key][0], big[key][50])
    again = gen().generate(torch.arange(100, 164))
    assert torch.equal(again["x"], big["x"])
    other_seed = gen(seed=8).generate(torch.arange(100, 164))
    assert not torch.equal(other_seed["x"], big["x"])


@pytest.mark.parametrize("size", [(17, 13), (9, 11)])
def test_bit_identical_at_every_batch_position_for_odd_sizes(size):
    # odd plane sizes put a sample's last pixels in the scalar tail of vectorised loops
    g = gen(time_bins=size[0], freq_bins=size[1], scale="none")
    full = g.generate(torch.arange(120))
    for n in (1, 2, 7, 25):
        for start in (0, 5, 50, 90):
            part = g.generate(torch.arange(start, start + n))
            for key in ("x", "mask", "strength", "y"):
                assert torch.equal(part[key], full[key][start : start + n]), (key, n, start)


def test_big_batches_draw_noise_in_chunks_without_changing_samples(monkeypatch):
    import anomaly_lab.modalities.spectrogram.generator as module

    g = gen()
    whole = g.generate(torch.arange(10))
    monkeypatch.setattr(module, "_NOISE_CHUNK_VALUES", 3 * 32 * 32)  # 3 rows per chunk
    chunked = g.generate(torch.arange(10))
    assert torch.equal(whole["x"], chunked["x"])


@pytest.mark.parametrize(
    "size, scale",
    [((32, 32), "percentile"), ((17, 13), "none"), ((9, 11), "log"), ((96, 80), "percentile"), ((64, 64), "none")],
)
def test_fused_cpu_path_equals_the_tensor_path_bit_for_bit(monkeypatch, size, scale):
    """The CPU path makes noise, signal and scaling in cache-sized chunks with numpy; the tensor
    path (what other devices run) must give the very same float32 values."""
    import anomaly_lab.modalities.spectrogram.generator as module

    g = gen(time_bins=size[0], freq_bins=size[1], scale=scale, mixture="road" if size[0] == 64 else "uniform")
    idx = torch.arange(3, 3 + 31) * 5
    fused = g.generate(idx)
    monkeypatch.setattr(module, "_FUSED_CHUNK_VALUES", 7 * size[0] * size[1] + 3)  # 7 rows a chunk
    assert all(torch.equal(v, g.generate(idx)[k]) for k, v in fused.items())
    monkeypatch.setattr(module, "_FUSED_CPU", False)
    tensor = g.generate(idx)
    for key in fused:
        assert torch.equal(fused[key], tensor[key]), key


def test_chunked_batches_equal_one_call():
    whole = gen(chunk_pixels=1 << 30).generate(torch.arange(40))
    for pixels in (1, 3 * 32 * 32, 7 * 32 * 32 + 5):  # one row, three rows, seven rows per chunk
        part = gen(chunk_pixels=pixels).generate(torch.arange(40))
        for key in whole:
            assert torch.equal(part[key], whole[key]), (key, pixels)
    with pytest.raises(ConfigError, match="chunk_pixels=0"):
        gen(chunk_pixels=0)


def test_chunks_on_two_threads_equal_one_thread_bit_for_bit():
    """With two intra-op threads the chunks of rows run side by side (core.threads.map_parts)."""
    before = torch.get_num_threads()
    try:
        out = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            batch = gen(chunk_pixels=5 * 32 * 32).generate(torch.arange(200, 240))  # 8 chunks
            out[threads] = {k: v.clone() for k, v in batch.items()}
    finally:
        torch.set_num_threads(before)
    for key in out[1]:
        assert torch.equal(out[1][key], out[2][key]), key


def test_uniform_and_road_class_laws():
    idx = torch.arange(20000)
    counts = torch.bincount(gen().draw_classes(idx), minlength=10).double() / len(idx)
    assert torch.allclose(counts, torch.full((10,), 0.1, dtype=torch.float64), atol=0.012)
    road = torch.bincount(gen(mixture="road").draw_classes(idx), minlength=10).double() / len(idx)
    total = 1 + sum(ROAD_CONTAMINATION.values())
    assert abs(float(road[0]) - 1 / total) < 0.01
    assert abs(float(road[CLASS_NAMES.index("galactic_plane")]) - 0.08 / total) < 0.006
    only = gen(mixture={"normal": 1, "lightning": 1}).draw_classes(idx)
    assert set(only.unique().tolist()) == {0, 5}


def test_labels_masks_and_strength_agree():
    g = gen(mixture="uniform")
    b = g.generate(torch.arange(300))
    normal = b["y"] == 0
    assert not b["mask"][normal].any() and torch.equal(b["strength"][normal], torch.zeros(int(normal.sum())))
    assert bool(b["mask"][~normal].flatten(1).any(1).all())
    s = b["strength"][~normal]
    assert float(s.min()) >= 0.25 - 1e-6 and float(s.max()) <= 1.0 + 1e-6
    assert float(s.log().std()) > 0.3  # spread over the log range, not one value
    fixed = gen(strength=0.5).generate(torch.arange(50))
    assert torch.allclose(fixed["strength"][fixed["y"] > 0], torch.tensor(0.5))


def test_forced_classes_and_data_loss_pixels_are_exact_zeros():
    g = gen(scale="none")
    b = g.generate(torch.arange(10), classes=torch.arange(10))
    assert b["y"].tolist() == list(range(10))
    x = b["x"]
    for k in (3, 4):  # the two data-loss classes: zero on every polarisation exactly on the mask
        assert bool((x[k][:, b["mask"][k]] == 0).all())
        assert bool((x[k][:, ~b["mask"][k]] > 0).all())
    others = [k for k in range(10) if k not in (3, 4)]
    assert bool((x[others] > 0).all())  # magnitudes are positive; only lost data is zero


def test_normal_sky_polarisations_are_correlated_and_cross_pols_weaker():
    g = gen(scale="none", mixture={"normal": 1}, time_bins=64, freq_bins=64)
    x = g.generate(torch.arange(40))["x"].double()
    level = x.mean((2, 3))
    ratio_cross = level[:, 1] / level[:, 0]
    ratio_yy = level[:, 3] / level[:, 0]
    assert float(ratio_cross.min()) > 0.04 and float(ratio_cross.max()) < 0.25
    assert float(ratio_yy.min()) > 0.7 and float(ratio_yy.max()) < 1.35
    # the noise of XX and YY: log-residual about a local mean, correlated through the common part
    logx = x.log()
    smooth = torch.nn.functional.avg_pool2d(logx, 5, stride=1, padding=2, count_include_pad=False)
    resid = (logx - smooth)[:, :, 4:-4, 8:-8].flatten(2)
    corr = [np.corrcoef(r[0].numpy(), r[3].numpy())[0, 1] for r in resid]
    assert 0.3 < float(np.mean(corr)) < 0.95
    # slow in time: the mean time profile changes little from bin to bin
    profile = x[:, 0].mean(2)
    assert float(((profile[:, 1:] - profile[:, :-1]).abs() / profile[:, :-1]).max()) < 0.05


def test_config_dict_and_codec():
    g = gen(mixture=[1] * 10, strength=[0.5, 1.0])
    cfg = g.config_dict()
    json.dumps(cfg)
    assert cfg["classes"][0] == "normal" and cfg["strength"] == [0.5, 1.0] and cfg["time_bins"] == 32
    assert type(g.codec()).__name__ == "SpectrogramCodec"
    assert g.frequencies_mhz()[0] > 110 and g.frequencies_mhz()[-1] < 190


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"time_bins": 4}, "time_bins=4"),
        ({"scale": "zscore"}, "scale='zscore'"),
        ({"strength": [1.0, 0.5]}, "strength="),
        ({"strength": -1.0}, "strength=-1.0"),
        ({"mixture": "zipf"}, "mixture='zipf'"),
        ({"scale_percentiles": [99, 1]}, "scale_percentiles"),
        ({"band_mhz": [190, 110]}, "band_mhz"),
        ({"device": "tpu"}, "device="),
    ],
)
def test_bad_values_are_config_errors(kw, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        gen(**kw)


def test_bad_forced_classes():
    with pytest.raises(ConfigError, match="one class per index"):
        gen().generate(torch.arange(3), classes=[1, 2])
    with pytest.raises(ConfigError, match=r"\[0, 9\]"):
        gen().generate(torch.arange(2), classes=[1, 10])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = gen().generate(torch.arange(64))
    cuda = SpectrogramGenerator(32, 32, seed=7, device="cuda").generate(torch.arange(64))
    assert cuda["x"].device.type == "cuda"
    assert torch.equal(cpu["y"], cuda["y"].cpu()) and torch.equal(cpu["mask"], cuda["mask"].cpu())
    assert torch.allclose(cpu["x"], cuda["x"].cpu(), atol=1e-4)


@pytest.mark.parametrize("chunk_pixels", [None, 2 * 24 * 24])
def test_a_kept_batch_is_never_overwritten_and_a_dropped_one_is_written_again(chunk_pixels):
    """x is written in place into the batch's tensor (chunk by chunk when the batch is chunked): a
    batch the caller keeps keeps its values through later calls; a dropped one's tensor is reused,
    with the values a fresh generator makes."""
    gen = SpectrogramGenerator(24, 24, seed=4, device="cpu", chunk_pixels=chunk_pixels)
    fresh = SpectrogramGenerator(24, 24, seed=4, device="cpu", chunk_pixels=chunk_pixels)
    kept = gen.generate(torch.arange(6))
    copy = kept["x"].clone()
    for k in range(3):
        gen.generate(torch.arange(10 + 6 * k, 16 + 6 * k))
    assert torch.equal(kept["x"], copy) and torch.equal(copy, fresh.generate(torch.arange(6))["x"])
    ptr = gen.generate(torch.arange(40, 46))["x"].data_ptr()
    again = gen.generate(torch.arange(50, 56))
    assert again["x"].data_ptr() == ptr
    expected = fresh.generate(torch.arange(50, 56))
    assert all(torch.equal(again[key], expected[key]) for key in expected)
