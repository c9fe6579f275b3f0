"""VUS and Range-AUC against the authors' code (TSB-AD's and the vus package's RangeAUC_volume_opt,
the vus package's RangeAUC) on random cases, and worked cases by hand."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from TSB_AD.evaluation.basic_metrics import basic_metricor
from vus.utils.metrics import metricor

from anomaly_lab.metrics.segments import find_segments
from anomaly_lab.metrics.vus import (
    _Buffers,
    default_window,
    range_auc,
    range_auc_curves,
    range_auc_original,
    vus,
    vus_of_flags,
)

LABEL = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
SCORE = [0.1, 0.3, 0.2, 0.9, 0.4, 0.8, 0.5, 0.1, 0.0, 0.2, 0.3, 0.1, 0.7, 0.6, 0.2, 0.1, 0.4, 0.0, 0.3, 0.1]

# (vus_roc, vus_pr) of TSB-AD 1.5's RangeAUC_volume_opt on this series (250 thresholds). The values this
# fixture held before (0.98/0.9514, 0.9695/0.9440, 0.9579/0.9362) were the mean of the older Range-AUC
# over buffers, not VUS: they kept P' fixed and integrated PR with a trapezoid.
REFERENCE = {
    0: (0.98, 0.9428571428571428),
    2: (0.9842235630909449, 0.9529231338323383),
    4: (0.9883988331788824, 0.9634954210237442),
}


@pytest.fixture(autouse=True)
def _quiet_reference():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reference divides 0 / 0 on some thresholds
        yield


@pytest.mark.parametrize("window", list(REFERENCE))
def test_against_reference_values(window):
    r = vus(torch.tensor(SCORE), torch.tensor(LABEL), window)
    assert (r["vus_roc"], r["vus_pr"]) == pytest.approx(REFERENCE[window], abs=1e-12)


def _random_case(seed: int, dense: bool):
    rng = np.random.default_rng(seed)
    if dense:  # many short segments, buffers overlapping and touching, segments at both ends
        n = int(rng.integers(10, 120))
        y = (rng.random(n) < rng.uniform(0.05, 0.4)).astype(int)
        if seed % 4 == 0:
            y[0] = y[-1] = 1
        y[n // 2] = 1
    else:
        n = int(rng.integers(20, 400))
        y = np.zeros(n, int)
        for _ in range(int(rng.integers(1, 6))):
            a = int(rng.integers(0, n))
            y[a : a + int(rng.integers(1, 15))] = 1
    s = rng.normal(size=n) + y * rng.uniform(0, 2)
    if seed % 2:
        s = np.round(s, 0 if dense else 1)  # ties
    return y, s, rng


@pytest.mark.parametrize("seed", range(40))
def test_vus_and_range_auc_equal_tsb_ad_on_random_cases(seed):
    y, s, rng = _random_case(seed, dense=seed % 2 == 0)
    window = int(rng.integers(0, 16))
    thresholds = 250 if seed % 3 else int(rng.integers(2, 300))
    tpr, fpr, prec, _, vus_roc, vus_pr = basic_metricor().RangeAUC_volume_opt(y, s, window, thresholds)
    r = vus(torch.tensor(s), torch.tensor(y), window, thresholds)
    assert r["vus_roc"] == pytest.approx(vus_roc, abs=1e-12) and r["vus_pr"] == pytest.approx(vus_pr, abs=1e-12)
    w = int(rng.integers(0, window + 1))  # one slice of the volume is Range-AUC with that buffer
    roc_w = np.dot(fpr[w][1:] - fpr[w][:-1], (tpr[w][1:] + tpr[w][:-1]) / 2)
    pr_w = np.dot(tpr[w][1:-1] - tpr[w][:-2], prec[w][1:])
    ra = range_auc(torch.tensor(s), torch.tensor(y), w, thresholds)
    assert ra["roc"] == pytest.approx(roc_w, abs=1e-12) and ra["pr"] == pytest.approx(pr_w, abs=1e-12)
    c = range_auc_curves(torch.tensor(s), torch.tensor(y), w, thresholds)
    assert np.allclose(c["tpr"].numpy(), tpr[w][1:-1], atol=1e-12)
    assert np.allclose(c["fpr"].numpy(), fpr[w][1:-1], atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_vus_equals_the_vus_package(seed):
    y, s, rng = _random_case(100 + seed, dense=bool(seed % 2))
    window = int(rng.integers(1, 12))
    *_, vus_roc, vus_pr = metricor().RangeAUC_volume_opt(y, s, window)
    r = vus(torch.tensor(s), torch.tensor(y), window)
    assert (r["vus_roc"], r["vus_pr"]) == pytest.approx((vus_roc, vus_pr), abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_range_auc_original_equals_the_vus_package_range_auc(seed):
    y, s, rng = _random_case(200 + seed, dense=seed % 2 == 0)
    window = int(rng.integers(0, 16))
    roc, pr, *_ = metricor().RangeAUC(y, s, window=window, plot_ROC=True)
    r = range_auc_original(torch.tensor(s), torch.tensor(y), window)
    assert (r["roc"], r["pr"]) == pytest.approx((roc, pr), abs=1e-12)


def test_a_perfect_ranking_scores_one():
    # the case of issue 14: the mean-Range-AUC gave 0.974 / 0.992 here
    r = vus(torch.tensor([0.737, 0.431]), torch.tensor([1, 0]), 3)
    assert r == {"vus_roc": 1.0, "vus_pr": 1.0}
    y = torch.zeros(50, dtype=torch.int64)
    y[10:14] = 1
    y[30:33] = 1
    assert vus(y.double() + 0.01 * torch.arange(50), y, 8) == pytest.approx({"vus_roc": 1.0, "vus_pr": 1.0})


def test_without_buffer_and_one_segment_it_is_the_roc_area_and_average_precision():
    rng = np.random.default_rng(0)
    y = np.zeros(200, int)
    y[80:95] = 1
    s = rng.normal(size=200) + y
    r = range_auc(torch.tensor(s), torch.tensor(y), window=0, thresholds=200)
    assert r["roc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert r["pr"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    v = vus(torch.tensor(s), torch.tensor(y), window=1, thresholds=200)  # buffers 0 and 1 have no buffer step
    assert v["vus_pr"] == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_touching_buffers_stay_two_segments_but_merge_in_the_original_range_auc():
    # buffer 4 (2 steps each side): the first segment's buffer ends at step 10, the second's starts at 11
    y = torch.zeros(30, dtype=torch.int64)
    y[5:9] = 1
    y[13:16] = 1
    s = torch.zeros(30)
    s[5:9] = 1.0  # only the first segment is found at the top threshold
    tpr = range_auc_curves(s, y, 4)["tpr"]
    assert float(tpr[0]) == pytest.approx(4 / 7 * 1 / 2)  # recall 4 / P' (no buffer step flagged), existence 1/2
    for w in (3, 4, 5):
        roc, pr, *_ = metricor().RangeAUC(y.numpy(), s.numpy(), window=w, plot_ROC=True)
        assert (range_auc_original(s, y, w)["roc"], range_auc_original(s, y, w)["pr"]) == pytest.approx((roc, pr))
        tsb = basic_metricor().RangeAUC_volume_opt(y.numpy(), s.numpy().astype(float), w)
        assert vus(s, y, w)["vus_pr"] == pytest.approx(tsb[-1], abs=1e-12)


def test_buffers_reward_near_misses():
    y = torch.zeros(100, dtype=torch.int64)
    y[40:50] = 1
    near = torch.zeros(100)
    near[36:40] = 1.0  # flags just before the anomaly
    near[40:42] = 0.5
    assert vus(near, y, 0)["vus_roc"] < vus(near, y, 16)["vus_roc"]


def test_default_window_is_median_event_length():
    y = torch.tensor([0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0])
    assert default_window(y) == 3


def test_buffers_stop_at_the_end_of_each_series():
    y = torch.tensor([[0, 0, 0, 1, 1], [1, 1, 0, 0, 0]]) == 1
    b = _Buffers(find_segments(y), y, torch.zeros(10, dtype=torch.float64), 2)
    soft = dict(zip(b.unique_pos.tolist(), b.soft_labels(4).tolist()))
    # row 0's segment ends its row: nothing spills into row 1 (flat steps 5, 6); row 1's buffer is
    # sqrt(1 - d/4) at d = 1, 2 after its segment, and row 0's before its segment
    assert soft == pytest.approx({1: (1 - 2 / 4) ** 0.5, 2: (1 - 1 / 4) ** 0.5, 7: (1 - 1 / 4) ** 0.5, 8: 0.5**0.5})


def test_rows_are_separate_series():
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(2, 40, dtype=torch.int64)
    y[0, 36:] = 1  # a segment ending row 0: its buffer must not reach row 1's first steps
    y[1, 10:15] = 1
    s = torch.rand(2, 40, generator=g) + y
    s[1, :3] = 5.0  # high scores at the start of row 1 are false alarms, not near misses of row 0
    flat = vus(s.reshape(-1), y.reshape(-1), 8)
    rows = vus(s, y, 8)
    assert rows["vus_pr"] < flat["vus_pr"]


class _FreshLabels(basic_metricor):
    """TSB-AD's ``metric_VUS_pred`` with every buffer built from the true labels (see ``vus_of_flags``)."""

    def __init__(self, labels):
        super().__init__()
        self._labels = np.asarray(labels)

    def sequencing(self, x, L, window=5):
        return super().sequencing(self._labels, L, window)


@pytest.mark.parametrize("seed", range(20))
def test_vus_of_flags_equals_tsb_ad(seed):
    y, _, rng = _random_case(300 + seed, dense=seed % 2 == 0)
    pred = (rng.random(len(y)) < 0.3).astype(int)
    window = int(rng.integers(0, 12))
    ours = vus_of_flags(torch.tensor(pred), torch.tensor(y), window)
    fresh = _FreshLabels(y).metric_VUS_pred(y, pred, window)
    assert (ours["vus_recall"], ours["vus_precision"], ours["vus_f"]) == pytest.approx(fresh, abs=1e-12)
    if window <= 2:  # below 3 buffers TSB-AD's carried-over labels change nothing
        assert tuple(ours.values()) == pytest.approx(basic_metricor().metric_VUS_pred(y, pred, window), abs=1e-12)


def test_vus_of_flags_where_tsb_ad_carries_labels_over():
    # TSB-AD rebinds its `labels` argument inside the buffer loop, so buffer 3 starts from buffer 2's
    # masked soft labels: the flagged step next to the segment holds sqrt(1/2) + sqrt(2/3), capped at 1,
    # instead of sqrt(2/3). Ours: buffer 3 gives TP = 2 + sqrt(2/3) over P' = 2 + sqrt(2/3) / 2.
    y = np.array([0, 0, 1, 1, 0, 0, 0, 0])
    pred = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    ours = vus_of_flags(torch.tensor(pred), torch.tensor(y), 3)
    tsb = basic_metricor().metric_VUS_pred(y, pred, 3)
    b2, b3 = (1 - 1 / 2) ** 0.5, (1 - 1 / 3) ** 0.5
    precisions = [2 / 3, 2 / 3, (2 + b2) / 3, (2 + b3) / 3]
    assert ours["vus_precision"] == pytest.approx(sum(precisions) / 4)
    assert ours["vus_recall"] == pytest.approx(1.0)
    assert tsb[1] == pytest.approx((2 / 3 + 2 / 3 + (2 + b2) / 3 + 1.0) / 4)  # the carried-over value, capped at 1
    assert tsb[1] != pytest.approx(ours["vus_precision"])


def test_undefined_without_anomalies():
    with pytest.warns(UserWarning, match="undefined"):
        r = vus(torch.rand(10), torch.zeros(10, dtype=torch.int64), 2)
    assert np.isnan(r["vus_roc"]) and np.isnan(r["vus_pr"])
