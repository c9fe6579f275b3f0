import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.metrics.segments import find_segments, segment_counts, segment_max


def test_runs_per_row_never_cross_rows():
    x = torch.tensor([[0, 1, 1, 0, 1], [1, 1, 0, 0, 1]])
    seg = find_segments(x)
    assert seg.row.tolist() == [0, 0, 1, 1]
    assert seg.start.tolist() == [1, 4, 0, 4]
    assert seg.end.tolist() == [3, 5, 2, 5]
    # the run at the end of row 0 and the one at the start of row 1 stay two runs
    ids = seg.ids()
    assert ids.tolist() == [[-1, 0, 0, -1, 1], [2, 2, -1, -1, 3]]


def test_only_values_equal_to_one_count():
    seg = find_segments(torch.tensor([2, 1, 1, 0, -1, 1.0]))
    assert list(zip(seg.start.tolist(), seg.end.tolist())) == [(1, 3), (5, 6)]


def test_counts_and_max_inside_runs():
    x = torch.tensor([[0, 1, 1, 1, 0, 1]])
    seg = find_segments(x)
    flags = torch.tensor([[1, 0, 1, 1, 1, 0]], dtype=torch.bool)
    assert segment_counts(seg, flags).tolist() == [2, 0]
    values = torch.tensor([[9.0, 0.5, 3.0, -1.0, 7.0, 2.5]])
    assert segment_max(seg, values).tolist() == [3.0, 2.5]


def test_three_dimensional_input_is_refused():
    with pytest.raises(ConfigError, match="shape"):
        find_segments(torch.zeros(2, 3, 4))
