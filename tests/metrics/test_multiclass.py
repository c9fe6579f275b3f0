"""Multi-class and binary figures against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, fbeta_score, precision_recall_fscore_support

from anomaly_lab.metrics.multiclass import binary_scores, classification_scores, fbeta, per_class_prf

NAMES = [f"c{k}" for k in range(5)]


def random_predictions(seed=0, n=400, classes=5):
    g = np.random.default_rng(seed)
    true = g.integers(0, classes, n)
    pred = np.where(g.random(n) < 0.6, true, g.integers(0, classes, n))
    pred[pred == 3] = 2  # class 3 never predicted: zero-division handling
    return torch.from_numpy(pred), torch.from_numpy(true)


def test_scores_match_sklearn():
    pred, true = random_predictions()
    scores, cm = classification_scores(pred, true, NAMES)
    p, t = pred.numpy(), true.numpy()
    assert np.array_equal(cm.numpy(), confusion_matrix(t, p, labels=range(5)))
    assert scores["acc"] == pytest.approx(accuracy_score(t, p))
    for avg in ("weighted", "macro"):
        sp, sr, sf, _ = precision_recall_fscore_support(t, p, labels=range(5), average=avg, zero_division=0)
        assert scores[f"precision_{avg}"] == pytest.approx(sp)
        assert scores[f"recall_{avg}"] == pytest.approx(sr)
        assert scores[f"f1_{avg}"] == pytest.approx(sf)
    sp, sr, sf, _ = precision_recall_fscore_support(t, p, labels=range(5), zero_division=0)
    for k, name in enumerate(NAMES):
        assert scores[f"precision/{name}"] == pytest.approx(sp[k])
        assert scores[f"recall/{name}"] == pytest.approx(sr[k])
        assert scores[f"f1/{name}"] == pytest.approx(sf[k])
    assert scores["precision/c3"] == 0.0
    assert scores["f2"] == pytest.approx(fbeta_score(t != 0, p != 0, beta=2))


def test_binary_scores_hand_counted():
    pred = torch.tensor([1, 1, 1, 0, 0, 0, 1, 0], dtype=torch.bool)
    true = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1], dtype=torch.bool)
    s = binary_scores(pred, true)
    # tp 3, fp 1, fn 2, tn 2
    assert s["precision"] == pytest.approx(0.75) and s["recall"] == pytest.approx(0.6)
    assert s["f2"] == pytest.approx(5 * 0.75 * 0.6 / (4 * 0.75 + 0.6))
    assert s["fpr"] == pytest.approx(1 / 3) and s["acc"] == pytest.approx(5 / 8)
    assert binary_scores(torch.zeros(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool))["f2"] == 0.0
    assert fbeta(1.0, 0.5, beta=1) == pytest.approx(2 / 3)


def test_per_class_prf_on_a_known_matrix():
    cm = torch.tensor([[8, 2], [1, 9]])
    prf = per_class_prf(cm)
    assert prf["precision"].tolist() == pytest.approx([8 / 9, 9 / 11])
    assert prf["recall"].tolist() == pytest.approx([0.8, 0.9])
    assert prf["support"].tolist() == [10, 10]
