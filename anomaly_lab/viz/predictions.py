"""The location task's test picture: sequences a row, the true anomaly and the prediction boxed."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from anomaly_lab.viz.preview import frame_grid

TRUE_COLOR = (230, 40, 40)
PRED_COLOR = (40, 90, 230)


def location_predictions(x: Tensor, y: Tensor, pred: Tensor, path: str | None = None) -> Image.Image | None:
    """``x`` (B, T+1, 1, H, W) inputs, ``y`` (B, T+1) labels (T flags, then the slot), ``pred`` (B,)
    predicted slots: the true anomalous frame boxed red, the predicted one blue, a legend below."""
    if x.dim() != 5:
        return None
    x = x[:, :, 0]
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    pix = ((x - lo) / (hi - lo).clamp(min=1e-6) * 255).to(torch.uint8).numpy()
    t = x.shape[1]
    true_box = torch.zeros(x.shape[:2], dtype=torch.bool)
    true_box[:, : t - 1] = y[:, : t - 1] == 1
    labels = [f"true {int(a)} / pred {int(b)}" for a, b in zip(y[:, -1], pred)]
    grid = frame_grid(pix, true_box.numpy(), labels, box_color=TRUE_COLOR)
    draw = ImageDraw.Draw(grid)
    cell = x.shape[-1] * 2 + 4
    left = grid.width - t * cell
    for r, p in enumerate(pred.tolist()):
        if p < t - 1:
            x0, y0 = left + p * cell + 3, r * cell + 3
            draw.rectangle([x0, y0, x0 + cell - 7, y0 + cell - 7], outline=PRED_COLOR, width=2)
    img = Image.new("RGB", (grid.width, grid.height + 22), (255, 255, 255))
    img.paste(grid, (0, 0))
    legend = ImageDraw.Draw(img)
    y0 = grid.height + 5
    legend.rectangle([6, y0, 18, y0 + 12], outline=TRUE_COLOR, width=2)
    legend.text((24, y0), "true anomalous frame", fill=(0, 0, 0))
    legend.rectangle([170, y0, 182, y0 + 12], outline=PRED_COLOR, width=2)
    legend.text((188, y0), "predicted frame", fill=(0, 0, 0))
    if path:
        img.save(path)
    return img
