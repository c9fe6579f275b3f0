"""The tutorial's image autoencoders as a frame reconstruction model (each frame on its own)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.models.autoencoder.torch_model import build_autoencoder, count_parameters
from anomaly_lab.tasks.frame_reconstruction import (
    SCORES,
    FrameReconstructionTask,
    VideoReconstructionModule,
    as_float_frames,
)
from anomaly_lab.viz.video import plot_curves, save_test_pictures

__all__ = [
    "SCORES",
    "FrameAutoencoderModule",
    "FrameReconstructionTask",
    "VideoReconstructionModule",
    "as_float_frames",
    "plot_curves",
    "save_test_pictures",
]


class FrameAutoencoderModule(FrameReconstructionTask):
    """One of the tutorial's image autoencoders applied to every frame of a clip independently.

    ``arch``: ``vanilla`` (``hidden``), ``deep`` (``widths``) or ``conv`` (``filters``, ``kernel``,
    ``bottleneck``); ``frame_size`` and ``channels`` must match the data.
    """

    def __init__(
        self,
        arch: str = "conv",
        frame_size: int = 64,
        channels: int = 1,
        output: str = "sigmoid",
        hidden: int = 128,
        widths: Sequence[int] = (128, 64, 12, 3),
        filters: int = 32,
        kernel: int = 5,
        bottleneck: int = 2000,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        pixel_bins: int = 4096,
        frames_key: str = "frames",
        pictures: bool = True,
        score: str = "reconstruction",
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(
            optimizer=optimizer,
            scheduler=scheduler,
            lr=lr,
            weight_decay=weight_decay,
            pixel_bins=pixel_bins,
            frames_key=frames_key,
            pictures=pictures,
            score=score,
        )
        widths = [int(w) for w in widths]
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        options = {
            "vanilla": {"hidden": hidden},
            "deep": {"widths": widths},
            "conv": {"filters": filters, "kernel": kernel, "bottleneck": bottleneck},
        }.get(arch, {})
        self.net = build_autoencoder(arch, frame_size, channels, output=output, **options)
        self.frame_size, self.channels = frame_size, channels

    def _check_shape(self, frames: Tensor) -> None:
        c, h, w = frames.shape[2:]
        if (c, h, w) != (self.channels, self.frame_size, self.frame_size):
            raise ConfigError(
                f"frames of shape {(c, h, w)} do not match model.channels={self.channels},"
                f" model.frame_size={self.frame_size}"
            )

    def trainable_weights(self) -> int:
        return count_parameters(self)

    def reconstruct(self, frames: Tensor) -> Tensor:
        self._check_shape(frames)
        b, t, c, h, w = frames.shape
        return self.net(frames.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
