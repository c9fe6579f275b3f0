"""The tutorial's image autoencoders at 64x64 and 28x28: shapes, sizes, output ranges, errors."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.autoencoder.torch_model import (
    ConvAutoencoder,
    DeepAutoencoder,
    VanillaAutoencoder,
    build_autoencoder,
    conv_grid,
    count_parameters,
)


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("arch", ["vanilla", "deep", "conv"])
def test_reconstructions_have_the_input_shape_and_range(arch, size):
    torch.manual_seed(0)
    net = build_autoencoder(arch, size)
    x = torch.rand(3, 1, size, size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    tanh = build_autoencoder(arch, size, output="tanh")
    with torch.no_grad():
        assert float(tanh(x).min()) >= -1.0


def test_layer_sizes_follow_the_tutorial():
    n = 64 * 64
    assert count_parameters(VanillaAutoencoder(64)) == (n * 128 + 128) + (128 * n + n)
    deep = DeepAutoencoder(28)
    widths = [m.out_features for m in deep.encoder if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 64, 12, 3]
    assert [m.out_features for m in deep.decoder if isinstance(m, torch.nn.Linear)] == [12, 64, 128, 784]
    assert deep.encoder(torch.rand(2, 1, 28, 28)).shape == (2, 3)  # the 3-number code
    conv = ConvAutoencoder(64)
    assert conv.encoder(torch.rand(2, 1, 64, 64)).shape == (2, 2000)
    assert [conv_grid(s) for s in (28, 64, 100)] == [4, 13, 22]


def test_errors_name_the_value():
    with pytest.raises(ConfigError, match="model.frame_size=30 does not fit the convolutional autoencoder"):
        ConvAutoencoder(30)
    with pytest.raises(ConfigError, match="model.arch='dense'"):
        build_autoencoder("dense", 64)
    with pytest.raises(ConfigError, match=r"model.widths=\[128, 0\]"):
        DeepAutoencoder(28, widths=[128, 0])
    with pytest.raises(ConfigError, match="model.output='relu'"):
        VanillaAutoencoder(28, output="relu")
