"""Windows over series and back."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.timeseries.windows import fold_mean, sliding_windows, stitch_last_rows, stitched_rows


def test_sliding_windows_and_fold_mean():
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).reshape(2, 10, 3)
    w = sliding_windows(x, 4, 2)
    assert w.shape == (2, 4, 4, 3)
    assert torch.equal(w[1, 2], x[1, 4:8])
    # per-step mean over covering windows: window values = their start, so step 5 is covered by starts 2, 4
    values = torch.arange(4, dtype=torch.float32)[None, :, None].expand(2, 4, 4) * 2
    folded = fold_mean(values, 10, 2)
    assert folded[0].tolist() == [0, 0, 1, 1, 3, 3, 5, 5, 6, 6]
    assert torch.equal(fold_mean(w[..., 0].reshape(2, 4, 4), 10, 2), x[:, :, 0])  # folding windows of x gives x
    with pytest.raises(ConfigError, match="shorter than the window"):
        sliding_windows(x, 11)


def test_the_seeds_stitching_and_its_rows():
    x = torch.arange(12, dtype=torch.float32)[:, None]
    w = sliding_windows(x[None], 5)[0]
    assert torch.equal(stitch_last_rows(w), x)
    assert stitched_rows(torch.tensor([3, 0, 7]), 5).tolist() == [0, 1, 2, 3, 4, 7, 11]
    assert stitched_rows(torch.tensor([2]), 5).tolist() == [6]
