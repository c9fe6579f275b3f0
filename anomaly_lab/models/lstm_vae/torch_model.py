"""The seed's LSTM variational autoencoder over windows of a multichannel series (plain torch)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from anomaly_lab.core.params import count_parameters


class LSTMVAE(nn.Module):
    """Encoder LSTM(64) -> LSTM(32) -> Dense(32, relu) -> mean and log-variance of a ``latent_dim``
    Gaussian; decoder: the latent repeated over ``seq_len`` steps -> Dense(32, relu) -> LSTM(32) ->
    LSTM(64) -> a linear output per step. Windows ``(N, seq_len, n_features)`` in, same shape out.
    """

    def __init__(
        self, n_features: int, seq_len: int, latent_dim: int = 8, hidden: tuple[int, int] = (64, 32), dense: int = 32
    ):
        super().__init__()
        h1, h2 = hidden
        self.seq_len, self.latent_dim = seq_len, latent_dim
        self.enc1 = nn.LSTM(n_features, h1, batch_first=True)
        self.enc2 = nn.LSTM(h1, h2, batch_first=True)
        self.enc_dense = nn.Linear(h2, dense)
        self.mu = nn.Linear(dense, latent_dim)
        self.log_var = nn.Linear(dense, latent_dim)
        self.dec_dense = nn.Linear(latent_dim, dense)
        self.dec1 = nn.LSTM(dense, h2, batch_first=True)
        self.dec2 = nn.LSTM(h2, h1, batch_first=True)
        self.out = nn.Linear(h1, n_features)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance ``(N, latent_dim)`` of windows ``x`` ``(N, L, C)``."""
        h, _ = self.enc1(x)
        _, (last, _) = self.enc2(h)
        h = torch.relu(self.enc_dense(last[-1]))
        return self.mu(h), self.log_var(h)

    def decode(self, z: Tensor) -> Tensor:
        """Windows ``(N, seq_len, C)`` from latents ``(N, latent_dim)``."""
        h = torch.relu(self.dec_dense(z)).unsqueeze(1).expand(-1, self.seq_len, -1)
        h, _ = self.dec1(h)
        h, _ = self.dec2(h)
        return self.out(h)

    def forward(self, x: Tensor, sample: bool = True, generator: torch.Generator | None = None):
        """Reconstruction, mean, log-variance (a sampled latent when ``sample``, else the mean)."""
        mu, log_var = self.encode(x)
        z = mu
        if sample:
            eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
            z = mu + torch.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var


def vae_loss(x: Tensor, recon: Tensor, mu: Tensor, log_var: Tensor, alpha: float = 100.0) -> dict[str, Tensor]:
    """The seed's loss: ``alpha * mean squared error * seq_len + KL`` (KL averaged over batch and
    latent dimensions, as Keras' ``K.mean`` does). Returns ``loss``, ``recon`` and ``kl``."""
    recon_term = torch.mean((x - recon) ** 2) * x.shape[1]
    kl = -0.5 * torch.mean(1 + log_var - mu**2 - torch.exp(log_var))
    return {"loss": alpha * recon_term + kl, "recon": recon_term, "kl": kl}


def fit_vae(
    model: LSTMVAE,
    windows: Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    alpha: float = 100.0,
    seed: int = 0,
    shuffle: bool = False,
) -> list[float]:
    """Train ``model`` on ``windows`` ``(N, L, C)`` with Adam and :func:`vae_loss`, mini-batches in
    order (``shuffle=False``, as the seed's Keras fit). Returns the mean loss of each epoch."""
    gen = torch.Generator(device=windows.device).manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    n = windows.shape[0]
    for _ in range(epochs):
        order = (
            torch.randperm(n, generator=gen, device=windows.device)
            if shuffle
            else torch.arange(n, device=windows.device)
        )
        total = 0.0
        for i in range(0, n, batch_size):  # mini-batches of windows
            batch = windows[order[i : i + batch_size]]
            recon, mu, log_var = model(batch, sample=True, generator=gen)
            loss = vae_loss(batch, recon, mu, log_var, alpha)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
        history.append(total / max(1, n))
    model.eval()
    return history


__all__ = ["LSTMVAE", "count_parameters", "fit_vae", "vae_loss"]
