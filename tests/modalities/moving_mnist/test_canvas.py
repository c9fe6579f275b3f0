"""paste: exact integer sums, saturation at 255, clipping at the frame's edges."""

import pytest
import torch

from anomaly_lab.modalities.moving_mnist.canvas import paste


def reference_paste(sprites, positions, size):
    """The notebook's way: a Python loop adding each digit into a frame, then clipping."""
    r, d, s, _ = sprites.shape
    out = torch.zeros(r, size, size, dtype=torch.int64)
    for i in range(r):
        for k in range(d):
            x, y = (int(v) for v in positions[i, k])
            for a in range(s):
                for b in range(s):
                    if 0 <= y + a < size and 0 <= x + b < size:
                        out[i, y + a, x + b] += int(sprites[i, k, a, b])
    return out.clamp(max=255).to(torch.uint8)


def test_matches_a_per_pixel_loop_with_overlap_and_edges():
    g = torch.Generator().manual_seed(0)
    sprites = torch.randint(0, 256, (5, 2, 6, 6), generator=g, dtype=torch.int64).to(torch.uint8)
    positions = torch.tensor(
        [[[0, 0], [3, 2]], [[-2, -2], [12, 12]], [[12, -2], [-2, 12]], [[5, 5], [5, 5]], [[7, 1], [2, 9]]]
    )
    got = paste(sprites, positions, 16, margin=2)
    assert got.dtype == torch.uint8 and got.shape == (5, 16, 16)
    assert torch.equal(got, reference_paste(sprites, positions, 16))


def test_overlap_adds_and_saturates_at_255():
    sprites = torch.full((1, 2, 4, 4), 200, dtype=torch.uint8)
    sprites[0, 1] = 30
    got = paste(sprites, torch.tensor([[[0, 0], [2, 0]]]), 8)
    assert got[0, 0, 0] == 200 and got[0, 0, 2] == 230 and got[0, 0, 5] == 30  # 200 + 30 below the cap
    sprites[0, 1] = 100
    assert paste(sprites, torch.tensor([[[0, 0], [2, 0]]]), 8)[0, 0, 2] == 255  # 300 saturates


def test_positions_outside_the_margin_are_an_error():
    sprites = torch.ones(1, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"must lie in \[-2, 6\]"):
        paste(sprites, torch.tensor([[[-3, 0]]]), 8, margin=2)
