"""The seed's CNN: layer sizes, parameter counts, heads, input checks."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.spectrogram_cnn.torch_model import SpectrogramCNN, count_parameters

CONV = (4 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128)
HEADS = (128 * 10 + 10) + (128 + 1)


@pytest.mark.parametrize("size, side", [(64, 6), (256, 30), (32, 2)])
def test_parameter_count_follows_the_seed_architecture(size, side):
    net = SpectrogramCNN(height=size, width=size)
    # valid 3x3 convolutions and 2x2 pools: 64 -> 62 -> 31 -> 29 -> 14 -> 12 -> 6
    assert count_parameters(net) == CONV + (128 * side * side * 128 + 128) + HEADS


def test_heads_and_outputs():
    x = torch.rand(5, 4, 40, 36)
    both = SpectrogramCNN(height=40, width=36).eval()(x)
    assert both["logits"].shape == (5, 10) and both["binary"].shape == (5,)
    assert set(SpectrogramCNN(height=40, width=36, heads="binary")(x)) == {"binary"}
    assert set(SpectrogramCNN(height=40, width=36, heads="multiclass", num_classes=3)(x)) == {"logits"}


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    net = SpectrogramCNN(height=32, width=32)
    x = torch.rand(4, 4, 32, 32)
    net.eval()
    assert torch.equal(net(x)["logits"], net(x)["logits"])
    net.train()
    assert not torch.equal(net(x)["logits"], net(x)["logits"])


def test_input_errors():
    net = SpectrogramCNN(height=32, width=32)
    with pytest.raises(ConfigError, match=r"built for inputs \(4, 32, 32\) but got \(4, 64, 64\)"):
        net(torch.rand(1, 4, 64, 64))
    with pytest.raises(ConfigError, match="too small"):
        SpectrogramCNN(height=12, width=64)
    with pytest.raises(ConfigError, match="model.heads='three'"):
        SpectrogramCNN(heads="three")
    with pytest.raises(ConfigError, match="model.dropout=1.0"):
        SpectrogramCNN(dropout=1.0)
