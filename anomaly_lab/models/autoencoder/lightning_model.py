"""Reconstruction-based video anomaly detection as LightningModules.

:class:`VideoReconstructionModule` holds what every reconstruction model shares: L2 training on
the batch's ``frames``, per-frame errors as anomaly scores, and the epoch's frame- and pixel-level
metrics (:mod:`anomaly_lab.metrics.video`). :class:`FrameAutoencoderModule` reconstructs each frame
on its own with one of the tutorial's image autoencoders.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.video import VideoScores, frame_errors, regularity
from anomaly_lab.models.autoencoder.torch_model import build_autoencoder, count_parameters

SCORES = ("reconstruction", "consistency")


def as_float_frames(frames: Tensor) -> Tensor:
    """Frames in [0, 1] float32 from uint8 or float frames; 4-D image batches get T = 1."""
    if frames.dim() == 4:
        frames = frames[:, None]
    if frames.dim() != 5:
        raise ConfigError(f"frames must be (B, T, C, H, W) or (B, C, H, W), got shape {tuple(frames.shape)}")
    if frames.dtype == torch.uint8:
        return frames.to(torch.float32) / 255.0
    return frames.to(torch.float32)


class VideoReconstructionModule(L.LightningModule):
    """Base class: subclasses define ``reconstruct(frames (B, T, C, H, W) float) -> same shape``.

    Reads ``batch[frames_key]`` (uint8 or float in [0, 1]) and, when present, ``frame_labels``
    (B, T) (``-1`` = unknown) and ``masks`` (B, T, C, H, W). Trains on the mean squared error; logs
    ``{train,val,test}/loss`` and, at the end of validation and test, ``frame_auroc``,
    ``frame_auprc``, ``regularity_auroc`` and ``pixel_auroc`` (each only when the labels allow it).
    After testing, ``test_scores`` holds the figures and ``test_frame_errors`` / ``test_frame_labels``
    the per-frame scores; ``test_reconstruction.png`` and ``test_regularity.png`` go to the run
    directory.

    ``score`` picks the frame score behind ``frame_auroc`` / ``frame_auprc`` and ``test_frame_errors``:
    ``reconstruction`` (the per-frame MSE, the tutorial's) or ``consistency`` (models that define
    :meth:`consistency`: how far a frame's learned features stray from the rest of its clip). With
    ``consistency`` both are logged, as ``recon_frame_*`` and ``consistency_frame_*``;
    ``regularity_auroc`` and ``pixel_auroc`` always come from the reconstruction.
    """

    #: subclasses that implement :meth:`consistency` set this
    has_consistency = False

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        eps: float = 1e-8,
        pixel_bins: int = 4096,
        frames_key: str = "frames",
        pictures: bool = True,
        score: str = "reconstruction",
    ):
        super().__init__()
        check_range("model.lr", lr, 0.0, low_inclusive=False)
        check_choice("model.score", score, SCORES)
        if score == "consistency" and not self.has_consistency:
            raise ConfigError(
                f"model.score={score!r} needs a model with a consistency score ({type(self).__name__}"
                f" has none); use model.score=reconstruction or model=convlstm_ae"
            )
        self.score = score
        check_range("model.weight_decay", weight_decay, 0.0)
        check_range("model.pixel_bins", pixel_bins, 2, integer=True)
        self.lr, self.weight_decay, self.eps = lr, weight_decay, eps
        self.pixel_bins, self.frames_key, self.pictures = pixel_bins, frames_key, pictures
        self._scores: dict[str, VideoScores] = {}
        self._consistency: dict[str, VideoScores] = {}
        self._shown: dict[str, Tensor] | None = None
        self.test_scores: dict[str, float] = {}
        self.test_frame_errors: Tensor | None = None
        self.test_frame_labels: Tensor | None = None

    def reconstruct(self, frames: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def consistency(self, frames: Tensor) -> Tensor:  # pragma: no cover - only where has_consistency
        """Per-frame temporal-consistency scores ``(B, T)`` of clips ``(B, T, C, H, W)``."""
        raise NotImplementedError

    def forward(self, frames: Tensor) -> Tensor:
        return self.reconstruct(as_float_frames(frames))

    def trainable_weights(self) -> int:
        return count_parameters(self)

    def _frames(self, batch: dict[str, Tensor]) -> Tensor:
        if self.frames_key not in batch:
            raise ConfigError(f"model.frames_key={self.frames_key!r} is not in the batch; it has {sorted(batch)}")
        return as_float_frames(batch[self.frames_key])

    def training_step(self, batch, batch_idx):
        x = self._frames(batch)
        loss = F.mse_loss(self.reconstruct(x), x)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=x.shape[0])
        return loss

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        x = self._frames(batch)
        recon = self.reconstruct(x)
        errors = frame_errors(recon, x)
        self.log(f"{stage}/loss", errors.mean(), prog_bar=True, on_epoch=True, batch_size=x.shape[0])
        labels = batch.get("frame_labels")
        masks = batch.get("masks")
        pixel = (recon - x).pow(2) if masks is not None else None
        self._scores.setdefault(stage, VideoScores(self.pixel_bins)).update(errors, labels, pixel, masks)
        cons = None
        if self.score == "consistency":
            cons = self.consistency(x)
            self._consistency.setdefault(stage, VideoScores(2)).update(cons, labels)
        if stage == "test" and self._shown is None:
            keep = min(4, x.shape[0])
            self._shown = {
                "x": x[:keep].cpu(),
                "recon": recon[:keep].detach().cpu(),
                "errors": errors[:keep].cpu(),
                "labels": labels[:keep].cpu() if labels is not None else None,
            }
            if cons is not None:
                self._shown["consistency"] = cons[:keep].detach().cpu()

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        self._scores["val"] = VideoScores(self.pixel_bins)
        self._consistency.pop("val", None)

    def on_test_epoch_start(self) -> None:
        self._scores["test"] = VideoScores(self.pixel_bins)
        self._consistency.pop("test", None)
        self._shown = None

    def _primary(self, stage: str) -> VideoScores | None:
        """The collected scores behind ``frame_auroc``: the reconstruction's or the consistency's."""
        return self._consistency.get(stage) if self.score == "consistency" else self._scores.get(stage)

    def _log_scores(self, stage: str) -> dict[str, float]:
        scores = self._scores[stage].compute() if stage in self._scores else {}
        if stage in self._consistency:
            scores["recon_frame_auroc"], scores["recon_frame_auprc"] = scores["frame_auroc"], scores["frame_auprc"]
            cons = self._consistency[stage].compute()
            scores["consistency_frame_auroc"], scores["consistency_frame_auprc"] = (
                cons["frame_auroc"],
                cons["frame_auprc"],
            )
            if self.score == "consistency":
                scores["frame_auroc"], scores["frame_auprc"] = cons["frame_auroc"], cons["frame_auprc"]
        finite = {f"{stage}/{k}": v for k, v in scores.items() if not math.isnan(v)}
        if finite:
            self.log_dict(finite, on_epoch=True)
        return scores

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        self.test_scores = self._log_scores("test")
        collected = self._primary("test")
        if collected is not None and collected.errors:
            self.test_frame_errors = torch.cat(collected.errors)
            self.test_frame_labels = torch.cat(collected.labels)
        if self.pictures and self._shown is not None and self.trainer is not None and self.trainer.is_global_zero:
            save_test_pictures(self._shown, self.trainer.default_root_dir)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay, eps=self.eps)


def save_test_pictures(shown: dict[str, Tensor], out_dir: str) -> dict[str, str]:
    """``test_reconstruction.png`` (input / reconstruction / error rows per sequence, anomalous
    frames boxed), ``test_regularity.png`` (regularity curves, anomalous frames shaded) and, when
    ``shown`` holds consistency scores, ``test_consistency.png`` (their curves, the same way)."""
    from anomaly_lab.viz.preview import frame_grid

    os.makedirs(out_dir, exist_ok=True)
    x, recon = shown["x"][:, :, 0], shown["recon"][:, :, 0]
    err = (x - recon).abs()
    err = err / err.amax().clamp(min=1e-6)
    rows = torch.stack([x, recon, err], 1).flatten(0, 1)  # (3 * B, T, H, W)
    labels = shown["labels"]
    boxed = None
    if labels is not None:
        boxed = (labels > 0).repeat_interleave(3, 0).numpy()
    names = [n for _ in range(x.shape[0]) for n in ("input", "recon", "|error|")]
    paths = {
        "reconstruction": os.path.join(out_dir, "test_reconstruction.png"),
        "regularity": os.path.join(out_dir, "test_regularity.png"),
    }
    frame_grid((rows.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), boxed, names).save(paths["reconstruction"])
    _plot_curves(regularity(shown["errors"]), labels, "regularity", paths["regularity"], ylim=(-0.05, 1.05))
    if "consistency" in shown:
        paths["consistency"] = os.path.join(out_dir, "test_consistency.png")
        _plot_curves(shown["consistency"], labels, "consistency score", paths["consistency"])
    return paths


def _plot_curves(values: Tensor, labels: Tensor | None, ylabel: str, path: str, ylim: tuple | None = None) -> None:
    """One panel of per-frame values a sequence, anomalous frames shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(values), 1, figsize=(7, 1.6 * len(values)), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):  # a handful of example sequences
        ax.plot(values[i].numpy(), marker="o", ms=3)
        if labels is not None:
            for t in torch.nonzero(labels[i] > 0).flatten().tolist():
                ax.axvspan(t - 0.5, t + 0.5, color="red", alpha=0.25)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_ylabel(ylabel)
    axes[-1, 0].set_xlabel("frame (anomalous frames shaded)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


class FrameAutoencoderModule(VideoReconstructionModule):
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
    ):
        super().__init__(
            lr=lr,
            weight_decay=weight_decay,
            pixel_bins=pixel_bins,
            frames_key=frames_key,
            pictures=pictures,
            score=score,
        )
        widths = [int(w) for w in widths]
        self.save_hyperparameters()
        options = {
            "vanilla": {"hidden": hidden},
            "deep": {"widths": widths},
            "conv": {"filters": filters, "kernel": kernel, "bottleneck": bottleneck},
        }.get(arch, {})
        self.net = build_autoencoder(arch, frame_size, channels, output=output, **options)
        self.frame_size, self.channels = frame_size, channels

    def reconstruct(self, frames: Tensor) -> Tensor:
        b, t, c, h, w = frames.shape
        if (c, h, w) != (self.channels, self.frame_size, self.frame_size):
            raise ConfigError(
                f"frames of shape {(c, h, w)} do not match model.channels={self.channels},"
                f" model.frame_size={self.frame_size}"
            )
        return self.net(frames.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
