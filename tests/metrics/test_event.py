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


def test_event_ending_the_series_where_tsb_ad_cuts_it_short():
    # TSB-AD's _get_events closes an event still open at the end with tim - 1, i.e. at n - 2, so a
    # detection on the last step does not count there (its Event-based-F1 is 0 here). Ours: the event
    # is found (event recall 1, point precision 1).
    import numpy as np
    from TSB_AD.evaluation.basic_metrics import basic_metricor

    target = np.array([0, 0, 0, 1, 1])
    pred = np.array([0, 0, 0, 0, 1])
    g = basic_metricor()
    assert g._get_events(target) == {1: (3, 3)}
    assert g.metric_EventF1PA(target, pred.astype(float), preds=pred) == pytest.approx(0.0)
    r = event_scores(torch.tensor(pred), torch.tensor(target))
    assert r["event_recall"] == 1.0 and r["composite_f1"] == 1.0
