"""Each anomaly class has its shape: numbers on the effect maps of 64 samples at 64 x 64."""

import numpy as np
import pytest
import torch

from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.modalities.spectrogram.morphologies import (
    MORPHOLOGIES,
    Effect,
    Grid,
    effect_mask,
    first_order_data_loss,
    first_order_high_noise,
    galactic_plane,
    lightning,
    oscillating_tile,
    rfi_ionosphere_reflect,
    solar_storm,
    source_in_sidelobes,
    third_order_data_loss,
)

N, T, F = 64, 64, 64
GRID = Grid.make(T, F, torch.device("cpu"))
ONE = torch.ones(N)


def rng(seed=3):
    return CounterRNG(seed, torch.arange(N))


def full(m):
    return m.expand(N, T, F)


@pytest.mark.parametrize("name", list(MORPHOLOGIES))
def test_every_class_marks_some_pixels_and_not_all_of_most(name):
    effect = MORPHOLOGIES[name].obj(rng(), GRID, ONE)
    mask = effect_mask(effect, (N, T, F), torch.device("cpu"))
    share = mask.float().mean((1, 2))
    assert bool((share > 0).all()), f"{name}: some samples have no visible anomaly"
    if name not in ("first_order_high_noise", "galactic_plane", "source_in_sidelobes"):
        assert float(share.mean()) < 0.6


def test_first_order_data_loss_is_one_block_of_whole_time_rows():
    drop = full(first_order_data_loss(rng(), GRID, ONE).drop)
    rows = drop.any(2)  # (N, T): the lost time bins
    for r, d in zip(rows, drop):
        t = torch.nonzero(r).flatten()
        assert int(t[-1] - t[0]) + 1 == t.numel()  # one contiguous stretch
        lost_channels = d[t].any(0)
        assert bool((d[t] == lost_channels).all())  # the same channels at every lost time bin
    whole_band = drop.any(1).all(1).float().mean()
    assert 0.3 < float(whole_band) < 0.8  # about half the blocks span the whole band


def test_third_order_data_loss_is_a_few_narrow_bands():
    drop = full(third_order_data_loss(rng(), GRID, ONE).drop)
    channels = drop.any(1)  # (N, F)
    per_sample = channels.sum(1)
    assert int(per_sample.min()) >= 1 and int(per_sample.max()) <= 4 * 2  # 1-4 bands of 1-2 channels at F=64
    assert float(drop.any(2).float().mean()) > 0.7  # over most of the time


def test_lightning_is_broadband_short_and_decaying():
    add = full(lightning(rng(), GRID, ONE).add)
    lit = add.amin(2) > 0.2  # time bins bright at every frequency
    assert bool((lit.sum(1) >= 1).all()) and float(lit.float().mean()) < 0.25
    peak = add.amax((1, 2))
    assert float(peak.min()) >= 2.0 * 0.6 and float(peak.max()) <= 4 * 8.0 * 1.2
    # brighter at low frequency (spectrum 1.2 - 0.6 f)
    assert bool((add[..., 0] >= add[..., -1]).all())


def test_rfi_lines_are_narrow_and_vary_in_time():
    add = full(rfi_ionosphere_reflect(rng(), GRID, ONE).add)
    channels = (add > 0).any(1).sum(1)
    assert int(channels.min()) >= 1 and int(channels.max()) <= 5 * 2
    line = add.amax(1).argmax(1)
    profile = add[torch.arange(N), :, line]  # (N, T): the brightest line over time
    assert bool((profile.std(1) > 0.05).all())  # flickers / comes and goes


def test_galactic_plane_is_a_broad_smooth_rise():
    gain = full(galactic_plane(rng(), GRID, ONE).gain)
    assert float(gain.min()) >= 1.0
    rise = gain.amax((1, 2)) - 1
    assert float(rise.min()) > 0.6 * 1.0 and float(rise.max()) < 1.5 * 1.5 + 1e-5
    step = (gain[:, 1:] - gain[:, :-1]).abs().amax((1, 2))
    assert float(step.max()) < 0.2  # smooth in time
    wide = ((gain.mean(2) - 1) > 0.5 * rise[:, None]).sum(1)
    assert int(wide.min()) >= 0.12 * T  # long: the half-width covers many bins


def test_sidelobe_fringes_cross_the_whole_spectrogram_periodically():
    gain = full(source_in_sidelobes(rng(), GRID, ONE).gain)
    mid = gain[:, :, F // 2] - 1  # along time at mid-band
    crossings = ((mid[:, 1:] * mid[:, :-1]) < 0).sum(1)
    assert int(crossings.min()) >= 2 * 3 - 1 and int(crossings.max()) <= 2 * 10 + 1
    assert float((gain - 1).abs().amax((1, 2)).min()) >= 0.25 - 1e-6


def test_oscillating_tile_is_an_on_off_square_wave():
    gain = full(oscillating_tile(rng(), GRID, ONE).gain)
    for g in gain:
        levels = torch.unique(g)
        assert levels.numel() == 2 and float(levels[0]) == 1.0  # off = 1, on = 1 + amp
        column = g[:, g.amax(0).argmax()]  # a channel inside the band
        runs = int(((column[1:] > 1) & (column[:-1] == 1)).sum())
        assert runs >= 2  # switches on repeatedly


def test_high_noise_raises_noise_over_a_long_window():
    effect = first_order_high_noise(rng(), GRID, ONE)
    noise = full(effect.noise)
    assert float(noise.amax((1, 2)).min()) >= 4.0 - 1e-5 and float(noise.max()) <= 10.0 + 1e-5
    assert int((noise[:, :, 0] > 1).sum(1).min()) >= 0.5 * T - 1


def test_solar_bursts_drift_down_in_frequency_over_time():
    add = full(solar_storm(rng(), GRID, ONE).add)
    corr = []
    for a in add:
        t_idx = torch.nonzero(a.amax(1) > 0.5).flatten().float()
        f_idx = a[t_idx.long()].argmax(1).float()
        if t_idx.numel() > 3:
            corr.append(float(np.corrcoef(t_idx.numpy(), f_idx.numpy())[0, 1]))
    assert len(corr) > N // 2 and float(np.median(corr)) < -0.5


def test_strength_scales_amplitudes_linearly():
    a = lightning(rng(), GRID, ONE).add
    b = lightning(rng(), GRID, 0.5 * ONE).add
    assert torch.allclose(b, 0.5 * a)
    g1 = galactic_plane(rng(), GRID, ONE).gain
    g2 = galactic_plane(rng(), GRID, 0.25 * ONE).gain
    assert torch.allclose(g2 - 1, 0.25 * (g1 - 1), atol=1e-6)


def test_effect_mask_thresholds():
    e = Effect(gain=torch.tensor([[[1.05, 1.2]]]), add=torch.tensor([[[0.1, 0.0]]]))
    assert effect_mask(e, (1, 1, 2), torch.device("cpu")).tolist() == [[[False, True]]]
    e = Effect(noise=torch.tensor([[[1.2, 2.0]]]), drop=torch.tensor([[[True, False]]]))
    assert effect_mask(e, (1, 1, 2), torch.device("cpu")).tolist() == [[[True, True]]]


def test_mask_is_the_footprint_at_any_strength():
    for name, entry in MORPHOLOGIES.items():
        morph = entry.obj
        strong = effect_mask(morph(rng(), GRID, ONE), (N, T, F), torch.device("cpu"), ONE)
        faint = effect_mask(morph(rng(), GRID, 0.25 * ONE), (N, T, F), torch.device("cpu"), 0.25 * ONE)
        assert torch.equal(strong, faint), name


# -- the registry --------------------------------------------------------------------------------
#: the class ids exported before the registry existed (the ``y`` column): they must not move
EXPORTED_IDS = {
    "oscillating_tile": 1,
    "first_order_high_noise": 2,
    "first_order_data_loss": 3,
    "third_order_data_loss": 4,
    "lightning": 5,
    "rfi_ionosphere_reflect": 6,
    "galactic_plane": 7,
    "source_in_sidelobes": 8,
    "solar_storm": 9,
}


def test_registry_order_keeps_the_exported_class_ids():
    from anomaly_lab.core.registry import Registry
    from anomaly_lab.modalities.spectrogram.classes import ANOMALY_CLASSES, CLASS_NAMES, class_id

    assert isinstance(MORPHOLOGIES, Registry)
    assert ANOMALY_CLASSES == MORPHOLOGIES.names
    assert {name: class_id(name) for name in MORPHOLOGIES} == EXPORTED_IDS
    assert {name: MORPHOLOGIES.index(name) + 1 for name in MORPHOLOGIES} == EXPORTED_IDS
    assert CLASS_NAMES == ("normal", *EXPORTED_IDS)


def test_each_entry_is_its_function_with_its_docstring_as_summary():
    functions = [
        oscillating_tile,
        first_order_high_noise,
        first_order_data_loss,
        third_order_data_loss,
        lightning,
        rfi_ionosphere_reflect,
        galactic_plane,
        source_in_sidelobes,
        solar_storm,
    ]
    assert [MORPHOLOGIES[f.__name__].obj for f in functions] == functions
    assert all(entry.summary == entry.obj.__doc__.strip().splitlines()[0] for entry in MORPHOLOGIES.values())


def test_unknown_morphology_is_one_line_listing_the_registered_ones():
    from anomaly_lab.core.errors import ConfigError
    from anomaly_lab.modalities.spectrogram.classes import mixture_weights

    with pytest.raises(ConfigError) as err:
        MORPHOLOGIES["meteor"]
    assert "\n" not in str(err.value) and "meteor" in str(err.value) and "solar_storm" in str(err.value)
    with pytest.raises(ConfigError) as err:  # config validation draws on the registry too
        mixture_weights({"meteor": 1.0})
    assert "meteor" in str(err.value) and "solar_storm" in str(err.value)


def test_docs_table_lists_every_registered_morphology_with_its_id():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "spectrogram.md").read_text()
    for name in MORPHOLOGIES:
        assert f"| {MORPHOLOGIES.index(name) + 1} | {name} |" in doc, name
