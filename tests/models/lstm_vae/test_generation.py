import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.lstm_vae.generation import anomalous_latents, generate_vae_anomalies
from anomaly_lab.models.lstm_vae.torch_model import LSTMVAE


def test_latent_shift_is_the_seeds_formula():
    mu, log_var = torch.tensor([[0.5, -1.0]]), torch.tensor([[-2.0, 0.4]])
    eps = torch.tensor([[0.3, -0.7]])
    z = anomalous_latents(mu, log_var, eps, None, None, "shift", 1.09, 0.01)
    assert torch.allclose(z, mu + torch.exp(0.5 * log_var) * eps + 1.09 * log_var)


def test_tail_sampling_lands_in_the_tails():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    u = torch.rand(500, 4, generator=g, dtype=torch.float64)
    signs = torch.where(torch.rand(500, 4, generator=g) < 0.5, 1.0, -1.0)
    z = anomalous_latents(mu, log_var, None, u, signs, "tail", 1.09, 0.01)
    dev = ((z - mu) / torch.exp(0.5 * log_var)).abs()
    assert float(dev.min()) >= 2.5758 - 1e-3  # beyond the two-sided 1% quantile of the Gaussian
    assert torch.equal(torch.sign(z - mu), signs)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LSTMVAE(2, 8, latent_dim=3)


def test_generation_rows_counts_and_determinism(model):
    test = torch.sin(torch.arange(207.0) / 5)[:, None].repeat(1, 2)
    out = generate_vae_anomalies(model, test, seed=3)
    w = 207 - 8 + 1
    assert out.windows.numel() == w // 20 == 10
    rows = sorted({r for k in out.windows.tolist() for r in (range(8) if k == 0 else [k + 7])})
    assert out.rows.tolist() == rows
    changed = (out.series != test).any(1).nonzero().flatten().tolist()
    assert changed == rows  # base=original: only the anomalous windows' rows change
    again = generate_vae_anomalies(model, test, seed=3)
    assert torch.equal(again.series, out.series)
    other = generate_vae_anomalies(model, test, seed=4)
    assert not torch.equal(other.windows, out.windows)
    recon = generate_vae_anomalies(model, test, seed=3, base="reconstruction", sampling="tail")
    assert recon.series.shape == test.shape and bool((recon.series != test).all())
    assert torch.equal(recon.rows, out.rows)
    none = generate_vae_anomalies(model, test, fraction=0.0)
    assert none.rows.numel() == 0 and torch.equal(none.series, test)


def test_generation_errors(model):
    with pytest.raises(ConfigError, match="fewer than sequence_length"):
        generate_vae_anomalies(model, torch.zeros(5, 2))
    with pytest.raises(ConfigError, match="sampling"):
        generate_vae_anomalies(model, torch.zeros(50, 2), sampling="gan")
    with pytest.raises(ConfigError, match="tail_probability"):
        generate_vae_anomalies(model, torch.zeros(50, 2), sampling="tail", tail_probability=0.0)
