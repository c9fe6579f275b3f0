import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.lstm_ae.torch_model import LSTMAutoencoder


def test_shapes_code_range_and_layers():
    m = LSTMAutoencoder(3, 12, latent_dim=5)
    x = torch.randn(7, 12, 3)
    assert m(x).shape == (7, 12, 3)
    with torch.no_grad():
        code = m.encode(x)
    assert code.shape == (7, 5) and float(code.abs().max()) < 1.0  # Dense(latent, tanh)
    assert [layer.hidden_size for layer in m.encoder] == [128, 64, 32]
    assert [layer.hidden_size for layer in m.decoder] == [32, 64, 128]


def test_tanh_output_is_bounded_and_learning_lowers_the_error():
    torch.manual_seed(0)
    m = LSTMAutoencoder(2, 8, latent_dim=4, hidden=(16, 8), output_activation="tanh")
    x = torch.sin(torch.arange(8.0)[None, :, None] / 2 + torch.rand(64, 1, 2) * 6)
    assert float(m(x * 10).detach().abs().max()) <= 1.0
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = float(((m(x) - x) ** 2).mean().detach())
    for _ in range(150):
        loss = ((m(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    with pytest.raises(ConfigError, match="output_activation"):
        LSTMAutoencoder(2, 8, output_activation="relu")
