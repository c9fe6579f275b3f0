import pytest
import torch

from anomaly_lab.metrics.point import point_prf
from anomaly_lab.metrics.point_adjusted import adjust, pa_f1_curve, pa_k_auc, pa_scores

TARGET = torch.tensor([0, 1, 1, 1, 1, 0, 0, 1, 1, 0])
PRED = torch.tensor([0, 1, 0, 0, 0, 0, 0, 0, 0, 1])  # 1 of 4 steps of the first segment, none of the second


def test_point_adjustment_by_hand():
    assert adjust(PRED, TARGET).int().tolist() == [[0, 1, 1, 1, 1, 0, 0, 0, 0, 1]]
    r = pa_scores(PRED, TARGET)  # tp 4, fp 1, 6 anomalous steps
    assert r["precision"] == pytest.approx(4 / 5) and r["recall"] == pytest.approx(4 / 6)
    assert r["f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_pa_k_lifts_only_segments_above_k_percent():
    assert pa_scores(PRED, TARGET, 20)["f1"] == pytest.approx(pa_scores(PRED, TARGET, 0)["f1"])  # 25% > 20%
    assert pa_scores(PRED, TARGET, 25)["f1"] == pytest.approx(point_prf(PRED, TARGET)["f1"])  # 25% is not > 25%
    assert pa_scores(PRED, TARGET, 100)["f1"] == pytest.approx(point_prf(PRED, TARGET)["f1"])
    assert adjust(PRED, TARGET, 30).int().tolist() == [PRED.tolist()]


def test_pa_k_auc_by_hand():
    hi = pa_scores(PRED, TARGET, 0)["f1"]
    lo = point_prf(PRED, TARGET)["f1"]
    # K = 0..24 lift the segment, K = 25..100 do not; trapezoid on K/100 with step 0.01
    expected = 0.01 * ((hi + lo) / 2 + 24 * hi + 75 * lo)
    assert pa_k_auc(PRED, TARGET) == pytest.approx(expected)


def test_curve_matches_adjusting_then_scoring():
    g = torch.Generator().manual_seed(0)
    target = (torch.rand(4, 300, generator=g) < 0.05).int()
    target = (torch.nn.functional.max_pool1d(target.float()[:, None], 7, 1, 3)[:, 0] > 0).int()
    pred = (torch.rand(4, 300, generator=g) < 0.1).int()
    curve = pa_f1_curve(pred, target)
    for k in (0, 10, 33, 50, 90):
        assert float(curve["f1"][k]) == pytest.approx(point_prf(adjust(pred, target, k), target)["f1"])


def test_segment_at_index_zero_where_tsb_ad_misses_a_step():
    # TSB-AD's _adjust_predicts back-fills with range(i, 0, -1), which never reaches index 0: a segment
    # starting the series and found at step 1 leaves step 0 unflagged there. Here every step of the
    # segment counts: PA recall 1.
    import numpy as np
    from TSB_AD.evaluation.basic_metrics import basic_metricor

    target = np.array([1, 1, 1, 0, 0, 0])
    pred = np.array([0, 1, 0, 0, 0, 0])
    tsb = basic_metricor()._adjust_predicts(pred.astype(float), target, pred=pred.astype(bool))
    assert tsb.tolist() == [False, True, True, False, False, False]
    assert adjust(torch.tensor(pred), torch.tensor(target)).tolist() == [[True, True, True, False, False, False]]
    assert pa_scores(torch.tensor(pred), torch.tensor(target))["recall"] == 1.0
