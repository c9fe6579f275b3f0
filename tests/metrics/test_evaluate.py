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
    for key in ("vus_roc", "vus_pr", "pa_f1", "pa_k_auc", "event_f1", "composite_f1", "dair", "best_f1"):
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
