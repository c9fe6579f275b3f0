"""The seed's LSTM autoencoder as a window reconstruction model (:mod:`anomaly_lab.tasks.window_reconstruction`)."""

from __future__ import annotations

import torch
from torch import Tensor

from anomaly_lab.models.lstm_ae.torch_model import LSTMAutoencoder
from anomaly_lab.tasks.window_reconstruction import (
    LOGGED,
    ReconstructionDetector,
    WindowReconstructionTask,
    per_kind_auroc,
    step_kinds,
)
from anomaly_lab.viz.timeseries import plot_scores

__all__ = [
    "LOGGED",
    "LSTMAutoencoderDetector",
    "ReconstructionDetector",
    "WindowReconstructionTask",
    "per_kind_auroc",
    "plot_scores",
    "step_kinds",
]


class LSTMAutoencoderDetector(WindowReconstructionTask):
    """The seed's LSTM autoencoder (:class:`LSTMAutoencoder`) trained with MSE on windows of clean
    series; scores each step by its squared reconstruction error. Logs ``train/loss``, ``val/loss``,
    ``val/threshold`` and the test figures (see the module docstring)."""

    def __init__(
        self,
        n_features: int = 4,
        seq_len: int = 32,
        latent_dim: int = 8,
        hidden: tuple[int, ...] = (128, 64, 32),
        output_activation: str = "none",
        lr: float = 1e-3,
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
        self.net = LSTMAutoencoder(n_features, seq_len, latent_dim, tuple(hidden), output_activation)

    def window_loss(self, windows: Tensor) -> dict[str, Tensor]:
        return {"loss": torch.mean((self.net(windows) - windows) ** 2)}

    def window_errors(self, windows: Tensor) -> Tensor:
        return (self.net(windows) - windows) ** 2
