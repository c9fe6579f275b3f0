"""Threshold strategies (TimeEval's definitions, written out with numpy) and the best-threshold searches
(against TSB-AD's searches and against brute force)."""

import warnings

import numpy as np
import pytest
import torch
from TSB_AD.evaluation.basic_metrics import basic_metricor

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.affiliation import affiliation_prf
from anomaly_lab.metrics.event import event_scores
from anomaly_lab.metrics.point_adjusted import pa_scores
from anomaly_lab.metrics.range_based import range_prf
from anomaly_lab.metrics.thresholds import (
    apply_threshold,
    best_affiliation_f1,
    best_event_f1,
    best_pa_f1,
    best_range_f1,
    find_threshold,
)


def _case(seed, n_lo=50, n_hi=300):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(n_lo, n_hi))
    y = np.zeros(n, int)
    for _ in range(int(rng.integers(1, 5))):
        a = int(rng.integers(1, n - 20))  # no event at either end: TSB-AD's defects stay out of the way
        y[a : a + int(rng.integers(1, 15))] = 1
    s = rng.normal(size=n) + 1.5 * y
    if seed % 2:
        s = np.round(s, 1)
    return y, s


def _ranges(flags):
    return int(np.sum(np.diff(np.r_[0, flags, 0]) == 1))


@pytest.mark.parametrize("seed", range(6))
def test_strategies_follow_timeeval(seed):
    y, s = _case(seed)
    st, yt = torch.tensor(s), torch.tensor(y)
    assert find_threshold(st, strategy="fixed", value=0.8) == 0.8
    assert find_threshold(st, strategy="percentile", value=90) == pytest.approx(np.nanpercentile(s, 90))
    assert find_threshold(st, strategy="k_sigma", value=2.5) == pytest.approx(np.mean(s) + 2.5 * np.std(s))
    top = find_threshold(st, yt, "top_k_points")
    assert top == pytest.approx(np.nanpercentile(s, (1 - y.sum() / len(y)) * 100))
    assert find_threshold(st, strategy="top_k_points", value=7) == pytest.approx(
        np.percentile(s, (1 - 7 / len(s)) * 100)
    )
    # top-k ranges: down the distinct scores (never the lowest), the first giving >= k ranges
    k = _ranges(y)
    distinct = np.unique(s)[::-1]
    expected = distinct[-2]
    for t in distinct[1:-1]:
        if _ranges((s >= t).astype(int)) >= k:
            expected = t
            break
    assert find_threshold(st, yt, "top_k_ranges") == expected
    assert torch.equal(apply_threshold(st, expected), st >= expected)


def test_strategy_errors():
    with pytest.raises(ConfigError, match="strategy='median'"):
        find_threshold(torch.rand(5), strategy="median")
    with pytest.raises(ConfigError, match="needs a value"):
        find_threshold(torch.rand(5), strategy="fixed")
    with pytest.raises(ConfigError, match="needs k"):
        find_threshold(torch.rand(5), strategy="top_k_ranges")


@pytest.mark.parametrize("seed", range(8))
def test_searches_on_tsb_ads_grid_equal_tsb_ad(seed):
    y, s = _case(100 + seed)
    st, yt = torch.tensor(s), torch.tensor(y)
    g = basic_metricor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = (g.metric_PointF1PA(y, s), g.metric_EventF1PA(y, s), g.metric_RF1(y, s), g.metric_Affiliation(y, s))
    ours = (
        best_pa_f1(st, yt, "tsb_ad")["f1"],
        best_event_f1(st, yt, "tsb_ad")["f1"],
        best_range_f1(st, yt, "tsb_ad")["f1"],
        best_affiliation_f1(st, yt, "tsb_ad")["f1"],
    )
    assert ours == pytest.approx(ref, abs=1e-9)  # TSB-AD adds 1e-15 to two denominators


@pytest.mark.parametrize("seed", range(4))
def test_exact_searches_are_the_best_threshold(seed):
    y, s = _case(200 + seed, 30, 80)
    st, yt = torch.tensor(s), torch.tensor(y)
    thresholds = np.unique(s)
    figures = {
        "pa": (best_pa_f1, lambda f: pa_scores(f, yt)["f1"]),
        "event": (best_event_f1, lambda f: event_scores(f, yt)["composite_f1"]),
        "range": (best_range_f1, lambda f: range_prf(f, yt, 0.2, "flat", "reciprocal")["f1"]),
        "affiliation": (best_affiliation_f1, lambda f: affiliation_prf(f, yt)["f1"]),
    }
    for name, (search, figure) in figures.items():
        best = search(st, yt)
        brute = max(figure(st >= t) for t in thresholds)
        assert best["f1"] == pytest.approx(brute, abs=1e-12), name
        assert figure(st >= best["threshold"]) == pytest.approx(brute, abs=1e-12), name
