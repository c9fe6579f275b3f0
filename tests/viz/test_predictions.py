"""The location task's test picture: both box colours drawn, and a legend that names them."""

import numpy as np
import torch

from anomaly_lab.viz.predictions import PRED_COLOR, TRUE_COLOR, location_predictions


def test_boxes_and_legend(tmp_path):
    x = torch.rand(3, 5, 1, 8, 8)
    y = torch.zeros(3, 5, dtype=torch.int64)
    y[torch.arange(3), torch.tensor([0, 2, 3])] = 1
    y[:, -1] = torch.tensor([0, 2, 3])
    pred = torch.tensor([0, 1, 3])
    img = location_predictions(x, y, pred, str(tmp_path / "p.png"))
    pix = np.asarray(img)
    grid, legend = pix[:-22], pix[-22:]
    for colour in (TRUE_COLOR, PRED_COLOR):
        assert (grid == colour).all(-1).any(), colour
        assert (legend == colour).all(-1).any(), colour  # the legend's swatch of that colour
    assert (tmp_path / "p.png").exists()
    assert location_predictions(torch.rand(3, 5, 8), y, pred) is None  # not frames: no picture
