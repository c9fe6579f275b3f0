import pytest
import torch

from anomaly_lab.metrics.event import event_scores


def test_event_figures_by_hand():
    target = torch.tensor([0, 1, 1, 1, 1, 0, 0, 1, 1, 0])
    pred = torch.tensor([0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    r = event_scores(pred, target)
    assert r["event_recall"] == 0.5  # one of two true segments touched
    assert r["event_precision"] == 0.5  # one of two flagged segments touches a true one
    assert r["event_f1"] == 0.5
    assert r["composite_f1"] == pytest.approx(0.5)  # point precision 1/2, event recall 1/2


def test_a_long_detection_counts_once():
    target = torch.tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1])
    pred = torch.tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    r = event_scores(pred, target)
    assert r["event_recall"] == 0.5 and r["event_precision"] == 1.0
    assert r["composite_f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_no_predictions_is_zero():
    r = event_scores(torch.zeros(5), torch.tensor([0, 1, 1, 0, 0]))
    assert r["event_f1"] == 0.0 and r["event_precision"] == 0.0
