import pytest
import torch

from anomaly_lab.modalities.timeseries.channelwise import TILE_STEPS, channelwise, channelwise_


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("t", [1, TILE_STEPS - 1, TILE_STEPS, 3 * TILE_STEPS + 7, 10_000])
@pytest.mark.parametrize("c", [1, 4, 5])
def test_tiled_op_gives_the_broadcast_values_bit_for_bit(op, t, c):
    g = torch.Generator().manual_seed(t * 10 + c)
    x = torch.randn(3, t, c, generator=g) * 100
    v = torch.randn(3, 1, c, generator=g) * 1e-3 + 0.7
    expect = getattr(torch, op)(x, v)
    assert torch.equal(channelwise(op, x, v), expect)
    y = x.clone()
    assert channelwise_(op, y, v) is y and torch.equal(y, expect)


def test_a_single_row_broadcasts_over_the_batch_of_the_value():
    steps = torch.arange(700, dtype=torch.float32)[None, :, None].expand(1, 700, 4).contiguous()
    period = torch.rand(6, 1, 4) * 40 + 24
    out = channelwise("div", steps, period)
    assert out.shape == (6, 700, 4)
    assert torch.equal(out, steps / period)


def test_a_strided_series_falls_back_to_the_plain_broadcast():
    x = torch.randn(2, 4, 600).transpose(1, 2)  # (2, 600, 4), channels not contiguous
    v = torch.randn(2, 1, 4)
    expect = x + v
    assert torch.equal(channelwise_("add", x, v), expect)
