"""Our ConvLSTM cell (the gate equations, gradients) and the spatio-temporal autoencoder (shapes at
any frame size, causality over time, the tutorial's layer sizes)."""

import pytest
import torch
import torch.nn.functional as F

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.conv_lstm_ae.torch_model import ConvLSTMAutoencoder, ConvLSTMCell


def test_cell_computes_the_convlstm_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 4, kernel=3)
    x, h0, c0 = torch.randn(2, 3, 5, 5), torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    w, b = cell.gates.weight, cell.gates.bias
    # the gates by hand: separate input-to-state and state-to-state convolutions, summed
    wx, wh = w[:, :3], w[:, 3:]
    z = F.conv2d(x, wx, padding=1) + F.conv2d(h0, wh, padding=1) + b[None, :, None, None]
    i, f, o, g = torch.sigmoid(z[:, :4]), torch.sigmoid(z[:, 4:8]), torch.sigmoid(z[:, 8:12]), torch.tanh(z[:, 12:])
    c = f * c0 + i * g
    h = o * torch.tanh(c)
    h1, c1 = cell(x, (h0, c0))
    assert torch.allclose(h1, h, atol=1e-6) and torch.allclose(c1, c, atol=1e-6)
    # zero state by default; the forget gate starts biased to remember
    fresh = ConvLSTMCell(3, 4)
    assert torch.equal(fresh.gates.bias[4:8], torch.ones(4)) and float(fresh.gates.bias[:4].abs().sum()) == 0.0
    hz, cz = fresh(x)
    assert torch.allclose(hz, fresh(x, (torch.zeros(2, 4, 5, 5), torch.zeros(2, 4, 5, 5)))[0])


def test_cell_gradients_are_right():
    torch.manual_seed(1)
    cell = ConvLSTMCell(2, 2, kernel=3).double()
    x, h, c = (torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(lambda a, b, d: cell(a, (b, d)), (x, h, c))


@pytest.mark.parametrize("size", [28, 64, 227])
def test_autoencoder_restores_any_frame_size(size):
    torch.manual_seed(0)
    net = ConvLSTMAutoencoder(size, 1, encoder_channels=(8, 4), lstm_channels=(4, 2, 4))
    x = torch.rand(2, 3, 1, size, size)
    y = net(x)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_tutorial_sizes_and_causality():
    net = ConvLSTMAutoencoder(227, 1, paddings=(0, 0))  # the tutorial: 227x227, no padding
    assert net.sizes == [227, 55, 26]  # the tutorial's cells run on 26x26 maps
    assert [c.hidden for c in net.cells] == [64, 32, 64]
    assert [m.out_channels for m in net.encoder if isinstance(m, torch.nn.Conv2d)] == [128, 64]
    torch.manual_seed(0)
    small = ConvLSTMAutoencoder(32, 1, encoder_channels=(4, 4), kernels=(5, 3), strides=(2, 2), lstm_channels=(4,))
    x = torch.rand(1, 6, 1, 32, 32)
    later = x.clone()
    later[:, 4:] = torch.rand(1, 2, 1, 32, 32)
    a, b = small(x), small(later)
    assert torch.equal(a[:, :4], b[:, :4])  # frame t depends on frames up to t only
    assert not torch.equal(a[:, 4:], b[:, 4:])


def test_linear_output_option():
    net = ConvLSTMAutoencoder(28, 1, encoder_channels=(4, 4), lstm_channels=(4,), output="none")
    assert isinstance(net.decoder[-1], torch.nn.Identity) and isinstance(
        ConvLSTMAutoencoder(28).decoder[-1], torch.nn.Sigmoid
    )
    with torch.no_grad():
        net.decoder[-2].bias.fill_(-5.0)
        assert float(net(torch.rand(1, 2, 1, 28, 28)).max()) < 0  # no squashing


def test_errors_name_the_values():
    with pytest.raises(ConfigError, match="model.output='relu'"):
        ConvLSTMAutoencoder(64, output="relu")
    with pytest.raises(ConfigError, match="must be non-empty lists of the same length"):
        ConvLSTMAutoencoder(64, encoder_channels=(8, 4), kernels=(5,))
    with pytest.raises(ConfigError, match="model.lstm_kernel=4 must be odd"):
        ConvLSTMAutoencoder(64, lstm_kernel=4)
    with pytest.raises(ConfigError, match="model.frame_size=8 is too small"):
        ConvLSTMAutoencoder(8, kernels=(11, 5), paddings=(0, 0))


@pytest.mark.parametrize("size,paddings", [(64, None), (41, (0, 0))])
def test_dense_features_are_the_strided_encoder_at_every_offset(size, paddings):
    torch.manual_seed(0)
    net = ConvLSTMAutoencoder(frame_size=size, encoder_channels=(6, 5), paddings=paddings, lstm_channels=(4,))
    frames = torch.rand(3, 1, size, size)
    dense = net.dense_features(frames)
    strided = net.encoder(frames)
    step = 8  # the product of the strides (4, 2)
    sub = dense[..., ::step, ::step][..., : strided.shape[-2], : strided.shape[-1]]
    assert sub.shape == strided.shape
    assert torch.allclose(sub, strided, atol=1e-6)
    # and the offsets in between are new values, not copies
    assert not torch.allclose(dense[..., 1::step, 1::step][..., : strided.shape[-2], : strided.shape[-1]], strided)


def test_feature_energy_ignores_where_the_content_is():
    torch.manual_seed(1)
    net = ConvLSTMAutoencoder(frame_size=64, encoder_channels=(6, 5), lstm_channels=(4,))
    patch = torch.rand(20, 20)
    clip = torch.zeros(1, 4, 1, 64, 64)
    for t, (r, c) in enumerate([(0, 0), (23, 18), (30, 31), (44, 2)]):  # anywhere in the frame, borders too
        clip[0, t, 0, r : r + 20, c : c + 20] = patch
    energy = net.feature_energy(clip, chunk=3)
    assert energy.shape == (1, 4, 6 + 5) and float(energy.min()) >= 0.0  # both layers
    assert torch.allclose(energy, energy[:, :1].expand_as(energy), rtol=1e-4)
    clip[0, 2, 0, 30:40, 31:51] = 0.0  # half the patch gone in frame 2
    changed = net.feature_energy(clip)
    assert torch.allclose(changed[:, [0, 1, 3]], energy[:, [0, 1, 3]], rtol=1e-4)
    assert float(((changed[0, 2] - energy[0, 2]).abs() / energy[0, 2]).max()) > 0.2
