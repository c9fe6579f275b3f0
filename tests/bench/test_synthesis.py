"""The Kornia peer of bench/synthesis.py makes the same recipes: per-recipe frame statistics agree
with our generator's (same digits; each side with its own random draws)."""

import os
import sys

import pytest
import torch

pytest.importorskip("kornia")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from synthesis import WARP_RECIPES, KorniaRandomAnomaly, recipe_rows  # noqa: E402

from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator  # noqa: E402
from anomaly_lab.synth.recipes import RANDOM_ANOMALY_RECIPES  # noqa: E402
from anomaly_lab.synth.reference import MEAN, STD  # noqa: E402

N = 400


def stats(frames):
    flat = frames.reshape(len(frames), -1)
    return {
        "mean": flat.mean(1),
        "background": (flat - (-MEAN / STD)).abs().lt(1e-4).float().mean(1),
        "max": flat.max(1).values,
    }


@pytest.fixture(scope="module")
def peers(mnist_train):
    return {
        f: (KorniaRandomAnomaly(mnist_train, faithful_8bit=f), RandomAnomalyGenerator(mnist_train, faithful_8bit=f))
        for f in (True, False)
    }


@pytest.mark.parametrize("faithful", [True, False])
@pytest.mark.parametrize("name", RANDOM_ANOMALY_RECIPES)
def test_kornia_recipes_make_frames_of_the_same_statistics(peers, faithful, name):
    kornia_gen, ours = peers[faithful]
    r = list(RANDOM_ANOMALY_RECIPES).index(name)
    src = torch.arange(N) * 7 % len(ours.source)  # the same digits on both sides
    torch.manual_seed(0)
    theirs = kornia_gen.frames(src, torch.full((N,), r))
    bank, low, high = ours._source_bank()[:3]
    from anomaly_lab.core.rng import CounterRNG
    from anomaly_lab.synth.photometric import clamp_per_image

    recipe = ours.recipes[r]
    made = recipe.apply(bank[src], CounterRNG(0, torch.arange(N))) if recipe.ops else bank[src]
    mine = (clamp_per_image(made, low[src], high[src]) - MEAN) / STD
    a, b = stats(mine), stats(theirs)
    for key in a:
        x, y = a[key].double(), b[key].double()
        se = (x.var() / N + y.var() / N).sqrt()
        # same law: means within 4 standard errors, plus a small allowance for the peers' own sampling
        # rules (Kornia's perspective corners are continuous, its erase ratio piecewise uniform)
        assert abs(float(x.mean() - y.mean())) <= 4 * float(se) + 0.003 * float(x.abs().mean()) + 1e-4, (
            name,
            key,
            float(x.mean()),
            float(y.mean()),
        )
    if name in ("baseline", "sharpness"):  # deterministic: frame for frame
        assert float((mine - theirs).abs().max()) < 1e-4


def test_recipe_rows_time_each_recipe_against_kornia_and_bound_the_batch_ratio(peers):
    kornia_gen, ours = peers[True]
    rows = recipe_rows(ours, kornia_gen, rounds=1, frames=16)
    names = [r for r in RANDOM_ANOMALY_RECIPES if r != "baseline"]  # the baseline has no work to time
    assert [r["name"] for r in rows[:-1]] == [f"recipe {n} alone, 16 frames, vs Kornia" for n in names]
    for r in rows:
        assert r["ours"] > 0 and r["baseline"] > 0
        assert r["ratio"] == pytest.approx(r["baseline"] / r["ours"])
    total = rows[-1]
    assert total["ours"] == pytest.approx(sum(r["ours"] for r in rows[:-1]))
    warps = sum(r["ours"] for r, n in zip(rows[:-1], names) if n in WARP_RECIPES)
    assert f"{total['baseline'] / warps:.2f}x" in total["notes"]
