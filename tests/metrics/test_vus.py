import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from anomaly_lab.metrics.vus import default_window, range_auc, vus

LABEL = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
SCORE = [0.1, 0.3, 0.2, 0.9, 0.4, 0.8, 0.5, 0.1, 0.0, 0.2, 0.3, 0.1, 0.7, 0.6, 0.2, 0.1, 0.4, 0.0, 0.3, 0.1]

# (vus_roc, vus_pr) of the authors' RangeAUC_volume_opt logic on this series (250 thresholds)
REFERENCE = {
    0: (0.98, 0.9514285714285713),
    2: (0.9694815600017043, 0.9440253409181821),
    4: (0.9579214061637951, 0.9361670608357817),
}


@pytest.mark.parametrize("window", list(REFERENCE))
def test_against_reference_values(window):
    r = vus(torch.tensor(SCORE), torch.tensor(LABEL), window)
    assert (r["vus_roc"], r["vus_pr"]) == pytest.approx(REFERENCE[window], abs=1e-12)


def test_without_buffer_and_one_segment_it_is_the_roc_area():
    rng = np.random.default_rng(0)
    y = np.zeros(200, int)
    y[80:95] = 1
    s = rng.normal(size=200) + y
    r = range_auc(torch.tensor(s), torch.tensor(y), window=0, thresholds=200)
    assert r["roc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


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
    from anomaly_lab.metrics.segments import find_segments
    from anomaly_lab.metrics.vus import _buffered

    y = torch.tensor([[0, 0, 0, 1, 1], [1, 1, 0, 0, 0]])
    labels, gs, ge = _buffered(find_segments(y), 2, 5, 4, y.device)
    labels = labels.reshape(2, 5)
    # row 0's segment ends the row: nothing spills into row 1's first steps (already 1 there anyway),
    # and row 1's buffer after its segment is sqrt(1 - d/4) at d = 1, 2
    assert labels[0, :3].tolist() == pytest.approx([0.0, (1 - 2 / 4) ** 0.5, (1 - 1 / 4) ** 0.5])
    assert labels[1, 2:].tolist() == pytest.approx([(1 - 1 / 4) ** 0.5, (1 - 2 / 4) ** 0.5, 0.0])
    assert gs.tolist() == [1, 5] and ge.tolist() == [4, 8]
