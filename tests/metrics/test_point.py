import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from anomaly_lab.metrics.point import auprc, auroc, best_f1, point_prf


def test_point_prf_worked_example():
    pred = torch.tensor([1, 1, 0, 0, 1, 0])
    target = torch.tensor([1, 0, 0, 1, 1, 0])
    r = point_prf(pred, target)  # tp 2, fp 1, fn 1
    assert (
        r["precision"] == pytest.approx(2 / 3)
        and r["recall"] == pytest.approx(2 / 3)
        and r["f1"] == pytest.approx(2 / 3)
    )


@pytest.mark.parametrize("seed", range(8))
def test_against_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
    y[0], y[1] = 0, 1
    s = np.round(rng.normal(size=n) + y, 1)  # rounding makes many ties
    assert auroc(torch.tensor(s), torch.tensor(y)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auprc(torch.tensor(s), torch.tensor(y)) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    flags = s > 0.5
    r = point_prf(torch.tensor(flags), torch.tensor(y))
    assert r["precision"] == pytest.approx(precision_score(y, flags, zero_division=0))
    assert r["recall"] == pytest.approx(recall_score(y, flags, zero_division=0))
    assert r["f1"] == pytest.approx(f1_score(y, flags, zero_division=0))


def test_best_f1_is_the_best_threshold():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    s = rng.normal(size=300) + 1.5 * y
    best = best_f1(torch.tensor(s), torch.tensor(y))
    brute = max(f1_score(y, s >= t) for t in np.unique(s))
    assert best["f1"] == pytest.approx(brute)
    assert f1_score(y, s >= best["threshold"]) == pytest.approx(brute)


def test_single_class_is_nan_with_warning():
    with pytest.warns(UserWarning, match="undefined"):
        assert math.isnan(auroc(torch.rand(10), torch.zeros(10)))
    with pytest.warns(UserWarning, match="undefined"):
        assert math.isnan(auprc(torch.rand(10), torch.zeros(10)))
