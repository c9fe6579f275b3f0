"""The seed's LSTM autoencoder over windows of a multichannel series (plain torch)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from anomaly_lab.core.errors import check_choice


class LSTMAutoencoder(nn.Module):
    """Encoder LSTM(128) -> LSTM(64) -> LSTM(32) -> Dense(latent_dim, tanh); decoder: the code
    repeated over ``seq_len`` steps -> LSTM(32) -> LSTM(64) -> LSTM(128) -> a dense output per step
    (``output_activation``: ``none``, or ``tanh`` as in the seed, which bounds outputs to [-1, 1]).
    Windows ``(N, seq_len, n_features)`` in, same shape out."""

    def __init__(
        self,
        n_features: int,
        seq_len: int,
        latent_dim: int = 8,
        hidden: tuple[int, ...] = (128, 64, 32),
        output_activation: str = "none",
    ):
        super().__init__()
        check_choice("model.output_activation", output_activation, ("none", "tanh"))
        self.seq_len = seq_len
        sizes = [n_features, *hidden]
        self.encoder = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:]))
        self.code = nn.Linear(hidden[-1], latent_dim)
        back = [latent_dim, *reversed(hidden)]
        self.decoder = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(back[:-1], back[1:]))
        self.out = nn.Linear(hidden[0], n_features)
        self.output_activation = output_activation

    def encode(self, x: Tensor) -> Tensor:
        h = x
        for i, lstm in enumerate(self.encoder):
            h, (last, _) = lstm(h)
        return torch.tanh(self.code(last[-1]))

    def decode(self, code: Tensor) -> Tensor:
        h = code.unsqueeze(1).expand(-1, self.seq_len, -1)
        for lstm in self.decoder:
            h, _ = lstm(h)
        y = self.out(h)
        return torch.tanh(y) if self.output_activation == "tanh" else y

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
