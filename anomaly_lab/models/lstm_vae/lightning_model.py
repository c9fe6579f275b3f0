"""The seed's LSTM-VAE as a LightningModule: trained on clean series, a detector at test."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from anomaly_lab.core.errors import check_choice, check_range
from anomaly_lab.models.lstm_vae.torch_model import LSTMVAE, vae_loss
from anomaly_lab.tasks.window_reconstruction import WindowReconstructionTask

SCORES = ("error", "probability")


class LSTMVAEDetector(WindowReconstructionTask):
    """:class:`LSTMVAE` with the seed's loss (``alpha`` x MSE x seq_len + KL, alpha = 100) on
    windows of clean, z-scored series.

    Scores per step and channel (``score``): ``error``, the squared error of the reconstruction
    from the latent mean; ``probability``, the reconstruction probability of An and Cho
    ("Variational autoencoder based anomaly detection using reconstruction probability", SNU Data
    Mining Center, 2015) as a negative log-likelihood, ``0.5 * mean_l (x - decode(z_l))^2`` over
    ``n_samples`` latents drawn from the encoder (a unit-variance Gaussian decoder in z-scored
    units; the draws use a fixed torch generator, so scores are repeatable).
    """

    def __init__(
        self,
        n_features: int = 4,
        seq_len: int = 32,
        latent_dim: int = 8,
        hidden: tuple[int, int] = (64, 32),
        dense: int = 32,
        alpha: float = 100.0,
        lr: float = 1e-3,
        score: str = "error",
        n_samples: int = 8,
        train_stride: int = 1,
        score_stride: int = 1,
        threshold_quantile: float = 0.995,
        k: int = 3,
        max_windows: int = 4096,
        train_windows: int | None = 256,
        normalize_channels: bool = False,
        channel_reduce: str = "mean",
        optimizer=None,
        scheduler=None,
    ):
        hidden = [int(h) for h in hidden]
        check_choice("model.score", score, SCORES)
        check_range("model.n_samples", n_samples, 1, integer=True)
        check_range("model.alpha", alpha, 0.0)
        check_range("model.latent_dim", latent_dim, 1, integer=True)
        super().__init__(
            n_features,
            seq_len,
            lr,
            train_stride,
            score_stride,
            threshold_quantile,
            k,
            max_windows,
            train_windows,
            normalize_channels,
            channel_reduce,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = LSTMVAE(n_features, seq_len, latent_dim, tuple(hidden), dense)

    def window_loss(self, windows: Tensor) -> dict[str, Tensor]:
        recon, mu, log_var = self.net(windows, sample=self.training)
        return vae_loss(windows, recon, mu, log_var, self.hparams.alpha)

    def window_errors(self, windows: Tensor) -> Tensor:
        mu, log_var = self.net.encode(windows)
        if self.hparams.score == "error":
            return (self.net.decode(mu) - windows) ** 2
        gen = torch.Generator(device=windows.device).manual_seed(0)
        total = torch.zeros_like(windows)
        for _ in range(self.hparams.n_samples):  # a loop over latent draws, each over all windows
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
            recon = self.net.decode(mu + torch.exp(0.5 * log_var) * eps)
            total = total + 0.5 * (recon - windows) ** 2
        return total / self.hparams.n_samples + 0.5 * math.log(2 * math.pi)
