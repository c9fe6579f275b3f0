"""Preview pictures: a grid of frames, one sequence a row, chosen frames boxed."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def frame_grid(
    frames: np.ndarray,
    boxed: np.ndarray | None = None,
    row_labels: list[str] | None = None,
    scale: int = 2,
    pad: int = 2,
    label_width: int = 0,
    box_color: tuple[int, int, int] = (230, 40, 40),
) -> Image.Image:
    """Draw ``frames`` ``(rows, cols, H, W)`` uint8 as a grid; ``boxed`` ``(rows, cols)`` bool marks
    frames to outline; ``row_labels`` are written in a left margin of ``label_width`` pixels."""
    rows, cols, h, w = frames.shape
    ch, cw = h * scale + 2 * pad, w * scale + 2 * pad
    if row_labels is not None and label_width == 0:
        label_width = 8 + 6 * max((len(s) for s in row_labels), default=0)
    canvas = Image.new("RGB", (label_width + cols * cw, rows * ch), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    big = frames.repeat(scale, axis=2).repeat(scale, axis=3)
    for r in range(rows):
        if row_labels is not None:
            draw.text((4, r * ch + ch // 2 - 5), row_labels[r], fill=(0, 0, 0))
        for c in range(cols):
            x0, y0 = label_width + c * cw, r * ch
            canvas.paste(Image.fromarray(big[r, c]).convert("RGB"), (x0 + pad, y0 + pad))
            if boxed is not None and boxed[r, c]:
                draw.rectangle([x0, y0, x0 + cw - 1, y0 + ch - 1], outline=box_color, width=pad)
    return canvas
