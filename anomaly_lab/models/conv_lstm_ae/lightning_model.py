"""The ConvLSTM autoencoder as a LightningModule (L2 reconstruction of normal clips; the per-frame
error is the anomaly score)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from anomaly_lab.errors import ConfigError
from anomaly_lab.models.autoencoder.lightning_model import VideoReconstructionModule
from anomaly_lab.models.conv_lstm_ae.torch_model import ConvLSTMAutoencoder


class ConvLSTMAEModule(VideoReconstructionModule):
    """Trains :class:`ConvLSTMAutoencoder` on clips ``frames`` (B, T, C, H, W); scores and metrics as
    :class:`~anomaly_lab.models.autoencoder.lightning_model.VideoReconstructionModule`.

    The tutorial's optimiser is the default: Adam, lr 1e-4, weight decay 1e-5, eps 1e-6.
    """

    def __init__(self, frame_size: int = 64, channels: int = 1, encoder_channels: Sequence[int] = (128, 64),
                 kernels: Sequence[int] = (11, 5), strides: Sequence[int] = (4, 2), paddings: Sequence[int] | None = None,
                 lstm_channels: Sequence[int] = (64, 32, 64), lstm_kernel: int = 3, output: str = "sigmoid", lr: float = 1e-4,
                 weight_decay: float = 1e-5, eps: float = 1e-6, pixel_bins: int = 4096, frames_key: str = "frames",
                 pictures: bool = True):
        super().__init__(lr=lr, weight_decay=weight_decay, eps=eps, pixel_bins=pixel_bins, frames_key=frames_key,
                         pictures=pictures)
        # plain lists (not Hydra's ListConfig) keep checkpoints loadable with weights_only=True
        encoder_channels, kernels, strides = [int(v) for v in encoder_channels], [int(v) for v in kernels], [int(v) for v in strides]
        paddings = None if paddings is None else [int(v) for v in paddings]
        lstm_channels = [int(v) for v in lstm_channels]
        self.save_hyperparameters()
        self.net = ConvLSTMAutoencoder(frame_size, channels, encoder_channels, kernels, strides, paddings, lstm_channels,
                                       lstm_kernel, output)
        self.frame_size, self.channels = frame_size, channels

    def reconstruct(self, frames: Tensor) -> Tensor:
        c, h, w = frames.shape[2:]
        if (c, h, w) != (self.channels, self.frame_size, self.frame_size):
            raise ConfigError(f"frames of shape {(c, h, w)} do not match model.channels={self.channels},"
                              f" model.frame_size={self.frame_size}")
        return self.net(frames)
