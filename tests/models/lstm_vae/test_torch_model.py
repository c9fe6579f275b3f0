import math

import torch

from anomaly_lab.models.lstm_vae.torch_model import LSTMVAE, count_parameters, fit_vae, vae_loss


def test_the_seeds_shapes():
    m = LSTMVAE(2, 10, latent_dim=8)
    assert (m.enc1.hidden_size, m.enc2.hidden_size, m.enc_dense.out_features) == (64, 32, 32)
    assert (m.dec_dense.out_features, m.dec1.hidden_size, m.dec2.hidden_size) == (32, 32, 64)
    x = torch.randn(5, 10, 2)
    mu, log_var = m.encode(x)
    assert mu.shape == log_var.shape == (5, 8)
    recon, mu2, _ = m(x, sample=False)
    assert recon.shape == (5, 10, 2) and torch.equal(recon, m.decode(mu2))
    # Keras counts one bias per LSTM gate, torch two: the seed's 2-feature model has 64,722 weights in Keras
    keras = 17_152 + 12_416 + 1_056 + 2 * 264 + 288 + 8_320 + 24_832 + 130
    assert keras == 64_722
    extra = 4 * (64 + 32 + 32 + 64)
    assert count_parameters(m) == keras + extra


def test_loss_is_100_mse_seq_len_plus_kl():
    x = torch.zeros(4, 10, 2)
    recon = torch.ones(4, 10, 2)
    mu, log_var = torch.zeros(4, 8), torch.zeros(4, 8)
    terms = vae_loss(x, recon, mu, log_var)
    assert float(terms["loss"]) == 1000.0 and float(terms["kl"]) == 0.0  # 100 * 1 * 10
    mu = torch.ones(4, 8)
    log_var = torch.full((4, 8), math.log(2.0))
    kl = -0.5 * (1 + math.log(2.0) - 1 - 2)  # per dimension, averaged
    assert math.isclose(float(vae_loss(x, x, mu, log_var)["kl"]), kl, rel_tol=1e-6)
    assert math.isclose(float(vae_loss(x, recon, mu, log_var, alpha=1.0)["loss"]), 10 + kl, rel_tol=1e-6)


def test_fit_is_seeded_and_lowers_the_loss():
    windows = torch.linspace(-1.5, 1.5, 96)[:, None, None] * torch.tensor([1.0, -1.0]).expand(96, 12, 2)  # levels

    def run():
        torch.manual_seed(0)
        m = LSTMVAE(2, 12, latent_dim=4)
        return m, fit_vae(m, windows, epochs=12, batch_size=8, lr=3e-3, seed=1, shuffle=True)

    (m1, h1), (m2, h2) = run(), run()
    assert h1 == h2 and all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert h1[-1] < 0.2 * h1[0] and not m1.training
