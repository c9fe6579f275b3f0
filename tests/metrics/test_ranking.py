"""The one AUROC/AUPRC/best-F1/P@K implementation, against scikit-learn and by hand."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from anomaly_lab.metrics import point, ranking, video


@pytest.mark.parametrize("seed", range(6))
def test_against_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
    y[0], y[1] = 0, 1
    s = np.round(rng.normal(size=n) + y, 1)
    assert ranking.auroc(torch.tensor(s), torch.tensor(y)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert ranking.auprc(torch.tensor(s), torch.tensor(y)) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    fpr, tpr, thr = ranking.roc_points(torch.tensor(s), torch.tensor(y))
    sk_fpr, sk_tpr, sk_thr = roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr.numpy(), sk_fpr) and np.allclose(tpr.numpy(), sk_tpr)
    assert np.array_equal(thr.numpy()[1:], sk_thr[1:])
    precision, recall, _ = ranking.pr_points(torch.tensor(s), torch.tensor(y))
    sk_p, sk_r, _ = precision_recall_curve(y, s, drop_intermediate=False)
    assert np.allclose(precision.numpy()[::-1], sk_p[:-1]) and np.allclose(recall.numpy()[::-1], sk_r[:-1])


def test_every_module_uses_the_one_implementation():
    assert point.auroc is ranking.auroc and point.auprc is ranking.auprc and point.best_f1 is ranking.best_f1
    g = torch.Generator().manual_seed(1)
    s = torch.rand(300, generator=g)
    y = (torch.rand(300, generator=g) < 0.2).long()
    assert video.auroc(s, y) == ranking.auroc(s, y) and video.average_precision(s, y) == ranking.auprc(s, y)


def test_unknown_labels_are_left_out_only_when_asked():
    s = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7])
    y = torch.tensor([0, 1, -1, 0, -1])
    assert ranking.auroc(s, y, unknown_below_zero=True) == 1.0
    assert ranking.auroc(s, y) == 1.0  # -1 is simply not anomalous here: 0.5 and 0.7 are normals below 0.9
    with pytest.raises(ValueError, match="NaN"):
        ranking.auroc(torch.tensor([0.1, math.nan]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="values"):
        ranking.auprc(torch.rand(3), torch.tensor([0, 1]))


def test_precision_at_k_by_hand_and_by_sorting():
    s = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = torch.tensor([1, 0, 1, 0, 0, 1])
    r = ranking.precision_at_k(s, y)  # K = 3: the top three hold two anomalies
    assert r["k"] == 3 and r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3) and r["threshold"] == pytest.approx(0.7)
    assert ranking.precision_at_k(s, y, k=1)["precision"] == 1.0
    tied = torch.tensor([0.9, 0.5, 0.5, 0.1])
    assert ranking.precision_at_k(tied, torch.tensor([1, 1, 0, 0]), k=2)["precision"] == pytest.approx(2 / 3)
    rng = np.random.default_rng(4)
    for _ in range(5):
        y = (rng.random(200) < 0.1).astype(int)
        s = rng.normal(size=200) + y
        k = int(y.sum())
        top = np.argsort(-s)[:k]
        assert ranking.precision_at_k(torch.tensor(s), torch.tensor(y))["precision"] == pytest.approx(y[top].mean())
    with pytest.raises(ValueError, match="k=0"):
        ranking.precision_at_k(s, torch.zeros(200))


def test_f_scores():
    assert ranking.f1_of(0.5, 1.0) == pytest.approx(2 / 3) and ranking.f1_of(0.0, 0.0) == 0.0
    assert ranking.fbeta_of(1.0, 0.5, 2.0) == pytest.approx(5 * 0.5 / (4 + 0.5))
    assert ranking.ratio(1, 0) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_torchmetrics(seed):
    # torchmetrics computes the same figures (its AUROC and average precision, F1 at a threshold and
    # the confusion matrix); we keep our own for float64 pooling, labels < 0 as unknown and NaN
    # (not 0) for a one-class set, and check that the shared cases agree.
    from torchmetrics.functional.classification import (
        binary_auroc,
        binary_average_precision,
        binary_f1_score,
        multiclass_confusion_matrix,
    )

    from anomaly_lab.metrics.multiclass import classification_scores
    from anomaly_lab.metrics.point import point_prf

    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(500, generator=g) < 0.2).long()
    scores = torch.round(torch.rand(500, generator=g) * 50 + target * 15) / 50  # ties on purpose
    # torchmetrics sorts and sums in float32: within 1e-4 (scikit-learn, in float64, agrees exactly)
    assert ranking.auroc(scores, target) == pytest.approx(float(binary_auroc(scores, target)), abs=1e-4)
    assert ranking.auprc(scores, target) == pytest.approx(float(binary_average_precision(scores, target)), abs=1e-4)
    flags = scores >= 0.6
    assert point_prf(flags, target)["f1"] == pytest.approx(float(binary_f1_score(flags.long(), target)), abs=1e-6)
    pred, true = torch.randint(0, 4, (300,), generator=g), torch.randint(0, 4, (300,), generator=g)
    _, cm = classification_scores(pred, true, ["a", "b", "c", "d"])
    assert torch.equal(cm.long(), multiclass_confusion_matrix(pred, true, num_classes=4))
