import math

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.evaluate import evaluate
from anomaly_lab.metrics.range_based import range_prf
from anomaly_lab.metrics.seed_eval import seed_scores


def _data():
    g = torch.Generator().manual_seed(0)
    t = torch.zeros(3, 200, dtype=torch.int64)
    t[:, 50:60] = 1
    t[1, 120:125] = 1
    s = torch.randn(3, 200, generator=g) + 2 * t
    return s, t


def test_scores_give_every_figure_and_match_references():
    s, t = _data()
    r = evaluate(s, t, threshold=1.0)
    assert r["auroc"] == pytest.approx(roc_auc_score(t.flatten(), s.flatten()))
    assert r["auprc"] == pytest.approx(average_precision_score(t.flatten(), s.flatten()))
    assert r["threshold"] == 1.0 and r["threshold_is_oracle"] == 0.0
    flags = s >= 1.0
    assert r["range_f1"] == pytest.approx(range_prf(flags, t)["f1"])
    assert r["tdir"] == pytest.approx(seed_scores(flags, t, 3)["tdir"])
    for key in ("vus_roc", "vus_pr", "pa_f1", "pa_k_auc", "event_f1", "composite_f1", "dair", "best_f1", *HEADLINE):
        assert 0.0 <= r[key] <= 1.0, key
    assert r["pa_f1"] >= r["f1"]  # adjustment only adds true positives


def test_no_threshold_uses_the_oracle_best_f1():
    s, t = _data()
    r = evaluate(s, t)
    assert r["threshold_is_oracle"] == 1.0 and r["f1"] == pytest.approx(r["best_f1"])


def test_flags_give_flag_figures_only():
    _, t = _data()
    r = evaluate(t, t)
    assert "auroc" not in r
    assert r["f1"] == 1.0 and r["range_f1"] == 1.0 and r["tdir"] == 1.0 and r["dair"] == 1.0 and r["td"] == 0.0


def test_channels_are_reduced():
    s, t = _data()
    s3 = torch.stack([s, s - 5.0], -1)
    t3 = torch.stack([t, torch.zeros_like(t)], -1)
    assert evaluate(s3, t3, threshold=1.0)["auroc"] == pytest.approx(evaluate(s, t, threshold=1.0)["auroc"])


def test_shape_mismatch_is_clear():
    with pytest.raises(ConfigError, match="must match"):
        evaluate(torch.rand(3, 10), torch.zeros(3, 11, dtype=torch.int64))


def test_undefined_auc_is_nan():
    with pytest.warns(UserWarning):
        r = evaluate(torch.rand(20), torch.zeros(20, dtype=torch.int64), threshold=0.5)
    assert math.isnan(r["auroc"]) and math.isnan(r["vus_roc"])


HEADLINE = (
    "AUC-PR",
    "AUC-ROC",
    "VUS-PR",
    "VUS-ROC",
    "Standard-F1",
    "PA-F1",
    "Event-based-F1",
    "R-based-F1",
    "Affiliation-F",
)


def _series(seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 300
    y = np.zeros(n, int)
    for _ in range(3):
        a = int(rng.integers(5, n - 30))  # no event at either end (TSB-AD's defects, see test_event / PA)
        y[a : a + int(rng.integers(3, 20))] = 1
    return y, rng.normal(size=n) + 1.2 * y


@pytest.mark.parametrize("seed", range(3))
def test_tsb_ad_headline_set_equals_get_metrics(seed):
    import warnings

    from TSB_AD.evaluation.metrics import get_metrics

    y, s = _series(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = get_metrics(s, y, slidingWindow=10)
    r = evaluate(torch.tensor(s), torch.tensor(y), vus_window=10)
    for key in HEADLINE:
        tol = 1e-5 if key == "Standard-F1" else 1e-9  # TSB-AD's Standard-F1 is 2PR / (P + R + 1e-5)
        assert r[key] == pytest.approx(ref[key], abs=tol), key
    assert r["Standard-F1"] >= ref["Standard-F1"]


def test_tsb_ad_headline_set_of_flags_equals_get_metrics_pred():
    import warnings

    from TSB_AD.evaluation.metrics import get_metrics_pred

    y, s = _series(7)
    flags = (s > 1.0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = get_metrics_pred(s, y, flags, slidingWindow=2)  # up to buffer 2 TSB-AD's VUS of flags is sound
    r = evaluate(torch.tensor(flags), torch.tensor(y), vus_window=2)
    for key in HEADLINE[4:]:
        assert r[key] == pytest.approx(ref[key], abs=1e-9), key
    assert r["vus_recall"] == pytest.approx(ref["VUS-Recall"]) and r["vus_f"] == pytest.approx(ref["VUS-F"])
    assert r["vus_precision"] == pytest.approx(ref["VUS-Precision"])
    # a given threshold makes the headline F's the figures of the flags, as get_metrics(pred=...) does
    r2 = evaluate(torch.tensor(s), torch.tensor(y), threshold=1.0 + 1e-12, vus_window=2)
    assert r2["PA-F1"] == pytest.approx(ref["PA-F1"]) and r2["threshold_is_oracle"] == 0.0


def test_threshold_strategies_and_new_figures():
    s, t = _data()
    r = evaluate(s, t, threshold="top_k_points")
    assert r["threshold_is_oracle"] == 0.0
    assert r["threshold"] == pytest.approx(float(torch.quantile(s.double().flatten(), float(1 - t.sum() / t.numel()))))
    r = evaluate(s, t, threshold="k_sigma", threshold_value=2.0)
    assert r["threshold"] == pytest.approx(float(s.double().mean() + 2 * s.double().std(correction=0)))
    for key in ("precision_at_k", "f_at_k", "range_pr_auc", "best_pa_f1", "best_event_f1", "affiliation_f1", "vus_f"):
        assert 0.0 <= r[key] <= 1.0, key
    assert r["best_pa_f1"] >= r["best_f1"]
    with pytest.raises(ConfigError, match="needs scores"):
        evaluate(t, t, threshold="percentile")
    with pytest.raises(ConfigError, match="strategy='mean'"):
        evaluate(s, t, threshold="mean")
