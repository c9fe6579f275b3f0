"""The ConvLSTM autoencoder as a LightningModule (L2 reconstruction of normal clips; the per-frame
error is the tutorial's anomaly score, and the clip consistency of the learned encoder features a
second one)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.video import clip_deviation, median_deviation
from anomaly_lab.models.conv_lstm_ae.torch_model import ConvLSTMAutoencoder
from anomaly_lab.tasks.frame_reconstruction import FrameReconstructionTask


class ConvLSTMAEModule(FrameReconstructionTask):
    """Trains :class:`ConvLSTMAutoencoder` on clips ``frames`` (B, T, C, H, W); scores and metrics as
    :class:`~anomaly_lab.tasks.frame_reconstruction.FrameReconstructionTask`.

    The tutorial's optimiser is the default: Adam, lr 1e-4, weight decay 1e-5, eps 1e-6.

    Its consistency score (``model.score=consistency``; then both scores are logged):
    the log energy of each channel of each encoder layer, computed at every pixel offset so it
    ignores where the digits are (:meth:`ConvLSTMAutoencoder.feature_energy`), against the clip's
    median, each channel weighed by how much it strays in normal clips
    (:func:`~anomaly_lab.metrics.video.clip_deviation`). That weight is measured on the first
    ``consistency_clips`` training clips of each epoch, just before validation, and is saved with the
    checkpoint. A reconstruction error cannot see a digit swapped for a similar one, since the
    network draws the new digit as well as the old; the swap does change what the learned filters
    respond to (docs/video.md).
    """

    has_consistency = True

    def __init__(
        self,
        frame_size: int = 64,
        channels: int = 1,
        encoder_channels: Sequence[int] = (128, 64),
        kernels: Sequence[int] = (11, 5),
        strides: Sequence[int] = (4, 2),
        paddings: Sequence[int] | None = None,
        lstm_channels: Sequence[int] = (64, 32, 64),
        lstm_kernel: int = 3,
        output: str = "sigmoid",
        lr: float = 1e-4,
        weight_decay: float = 1e-5,
        eps: float = 1e-6,
        pixel_bins: int = 4096,
        frames_key: str = "frames",
        pictures: bool = True,
        score: str = "reconstruction",
        consistency_clips: int = 64,
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(
            optimizer=optimizer,
            scheduler=scheduler,
            lr=lr,
            weight_decay=weight_decay,
            eps=eps,
            pixel_bins=pixel_bins,
            frames_key=frames_key,
            pictures=pictures,
            score=score,
        )
        # plain lists (not Hydra's ListConfig) keep checkpoints loadable with weights_only=True
        encoder_channels, kernels, strides = (
            [int(v) for v in encoder_channels],
            [int(v) for v in kernels],
            [int(v) for v in strides],
        )
        paddings = None if paddings is None else [int(v) for v in paddings]
        lstm_channels = [int(v) for v in lstm_channels]
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = ConvLSTMAutoencoder(
            frame_size, channels, encoder_channels, kernels, strides, paddings, lstm_channels, lstm_kernel, output
        )
        self.frame_size, self.channels = frame_size, channels
        check_range("model.consistency_clips", consistency_clips, 1, integer=True)
        self.consistency_clips = consistency_clips
        # how far each channel's log energy strays from its clip's median in normal clips (1 until measured)
        self.register_buffer("consistency_scale", torch.ones(sum(encoder_channels)))
        self._normal_clips: list[Tensor] = []

    def _check_shape(self, frames: Tensor) -> None:
        c, h, w = frames.shape[2:]
        if (c, h, w) != (self.channels, self.frame_size, self.frame_size):
            raise ConfigError(
                f"frames of shape {(c, h, w)} do not match model.channels={self.channels},"
                f" model.frame_size={self.frame_size}"
            )

    def reconstruct(self, frames: Tensor) -> Tensor:
        self._check_shape(frames)
        return self.net(frames)

    def log_energy(self, frames: Tensor) -> Tensor:
        """``(B, T, sum(encoder_channels))`` log feature energies of clips (the consistency descriptors)."""
        self._check_shape(frames)
        return torch.log(self.net.feature_energy(frames) + 1e-4)

    def consistency(self, frames: Tensor) -> Tensor:
        return clip_deviation(self.log_energy(frames), self.consistency_scale)

    @torch.no_grad()
    def calibrate_consistency(self, clips: Tensor) -> Tensor:
        """Set ``consistency_scale`` from normal clips ``(B, T, C, H, W)`` in [0, 1] (averaged over
        ranks when training is distributed) and return it."""
        scale = median_deviation(self.log_energy(clips)).clamp(min=1e-6)
        if self._trainer is not None and self.trainer.world_size > 1:
            scale = self.trainer.strategy.reduce(scale, reduce_op="mean")
        self.consistency_scale.copy_(scale)
        return scale

    def training_step(self, batch, batch_idx):
        have = sum(c.shape[0] for c in self._normal_clips)
        if (
            self.score == "consistency" and have < self.consistency_clips
        ):  # keep the epoch's first training clips for the calibration
            self._normal_clips.append(self._frames(batch)[: self.consistency_clips - have].detach())
        return super().training_step(batch, batch_idx)

    def on_train_epoch_start(self) -> None:
        self._normal_clips = []

    def on_validation_epoch_start(self) -> None:
        if self._normal_clips:
            self.calibrate_consistency(torch.cat(self._normal_clips))
            self._normal_clips = []
        super().on_validation_epoch_start()
