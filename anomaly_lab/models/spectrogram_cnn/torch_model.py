"""The seed's spectrogram CNN as a plain ``nn.Module``."""

from __future__ import annotations

from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.params import count_parameters

HEADS = ("both", "multiclass", "binary")


class SpectrogramCNN(nn.Module):
    """Three blocks of 3x3 convolution (no padding, as Keras' default) + ReLU + 2x2 max-pool with
    32, 64 and 128 channels, flatten, dense 128 + ReLU, dropout 0.5, then the heads.

    Input ``(B, in_channels, T, F)``; ``forward`` returns ``{"logits": (B, num_classes)}`` and/or
    ``{"binary": (B,)}`` (a logit of "anomalous") depending on ``heads``.
    """

    def __init__(
        self,
        in_channels: int = 4,
        height: int = 256,
        width: int = 256,
        num_classes: int = 10,
        heads: str = "both",
        channels: tuple[int, ...] = (32, 64, 128),
        dense: int = 128,
        dropout: float = 0.5,
    ):
        super().__init__()
        check_range("model.in_channels", in_channels, 1, integer=True)
        check_range("model.num_classes", num_classes, 2, integer=True)
        check_choice("model.heads", heads, HEADS)
        check_range("model.dropout", dropout, 0.0, 1.0, high_inclusive=False)
        layers: list[nn.Module] = []
        h, w, c = int(height), int(width), in_channels
        for out in channels:
            layers += [nn.Conv2d(c, int(out), 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            h, w, c = (h - 2) // 2, (w - 2) // 2, int(out)
            if h < 1 or w < 1:
                raise ConfigError(
                    f"input {height}x{width} is too small for {len(channels)} conv-pool blocks; "
                    f"use at least {2 ** (len(channels) + 1) + 2} bins per side"
                )
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(c * h * w, dense), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.heads = heads
        self.class_head = nn.Linear(dense, num_classes) if heads in ("both", "multiclass") else None
        self.binary_head = nn.Linear(dense, 1) if heads in ("both", "binary") else None
        self.input_shape = (in_channels, int(height), int(width))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"the CNN was built for inputs {self.input_shape} but got {tuple(x.shape[1:])}; "
                "set model.height/model.width to the data's size"
            )
        z = self.hidden(self.features(x))
        out = {}
        if self.class_head is not None:
            out["logits"] = self.class_head(z)
        if self.binary_head is not None:
            out["binary"] = self.binary_head(z).squeeze(-1)
        return out


__all__ = ["HEADS", "SpectrogramCNN", "count_parameters"]
