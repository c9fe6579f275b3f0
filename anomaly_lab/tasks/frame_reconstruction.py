"""The frame reconstruction task: video anomaly detection by reconstructing frames.

:class:`FrameReconstructionTask` holds what every reconstruction model shares: L2 training on
the batch's ``frames``, per-frame errors as anomaly scores, and the epoch's frame- and pixel-level
metrics (:mod:`anomaly_lab.metrics.video`). A model subclasses it with its ``reconstruct``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.video import VideoScores, frame_errors
from anomaly_lab.modalities.moving_mnist.modality import MovingMnistBatch
from anomaly_lab.tasks.base import Task
from anomaly_lab.viz.video import save_test_pictures

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


class FrameReconstructionTask(Task):
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
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(lr=lr, weight_decay=weight_decay, eps=eps, optimizer=optimizer, scheduler=scheduler)
        check_choice("model.score", score, SCORES)
        if score == "consistency" and not self.has_consistency:
            raise ConfigError(
                f"model.score={score!r} needs a model with a consistency score ({type(self).__name__}"
                f" has none); use model.score=reconstruction or model=convlstm_ae"
            )
        self.score = score
        check_range("model.pixel_bins", pixel_bins, 2, integer=True)
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

    def _frames(self, batch: dict[str, Tensor]) -> Tensor:
        if self.frames_key not in batch:
            raise ConfigError(f"model.frames_key={self.frames_key!r} is not in the batch; it has {sorted(batch)}")
        return as_float_frames(batch[self.frames_key])

    def check_batch(self, batch, data_config=None) -> None:
        frames = MovingMnistBatch.view(batch, f"model={type(self).__name__}").inputs
        self._check_shape(as_float_frames(frames[:1]))

    def _check_shape(self, frames: Tensor) -> None:
        """Subclasses with a fixed frame size raise a one-line ConfigError here."""

    def predict(self, batch) -> dict[str, Tensor]:
        x = self._frames(batch)
        errors = frame_errors(self.reconstruct(x), x)
        scores = self.consistency(x) if self.score == "consistency" else errors
        return {"scores": scores, "preds": scores.amax(1)}

    def step(self, batch, stage: str):
        if stage == "train":
            x = self._frames(batch)
            loss = F.mse_loss(self.reconstruct(x), x)
            self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=x.shape[0])
            return loss
        self._eval_step(batch, stage)
        return None

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        x = self._frames(batch)
        recon = self.reconstruct(x)
        errors = frame_errors(recon, x)
        self.log(f"{stage}/loss", errors.mean(), prog_bar=True, on_epoch=True, batch_size=x.shape[0], sync_dist=True)
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

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._scores["val"] = VideoScores(self.pixel_bins)
        self._consistency.pop("val", None)

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._scores["test"] = VideoScores(self.pixel_bins)
        self._consistency.pop("test", None)
        self._shown = None

    def _primary(self, stage: str) -> VideoScores | None:
        """The collected scores behind ``frame_auroc``: the reconstruction's or the consistency's."""
        return self._consistency.get(stage) if self.score == "consistency" else self._scores.get(stage)

    def _log_scores(self, stage: str) -> dict[str, float]:
        for collected in (self._scores.get(stage), self._consistency.get(stage)):
            if collected is not None:
                sync_video_scores(self, collected)
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

    def epoch_end(self, stage: str, collected: dict[str, Tensor]) -> None:
        if stage == "val":
            self._log_scores("val")
            return
        self.test_scores = self._log_scores("test")
        collected = self._primary("test")
        if collected is not None and collected.errors:
            self.test_frame_errors = torch.cat(collected.errors)
            self.test_frame_labels = torch.cat(collected.labels)
        if self.pictures and self._shown is not None and self.writes_files:
            for key, path in save_test_pictures(self._shown, self.run_dir).items():
                self.log_picture(f"test/{key}", path)


def sync_video_scores(module: Task, scores: VideoScores) -> None:
    """Under DDP, make ``scores`` hold every rank's frames (gathered) and pixel counts (summed)."""
    trainer = module._trainer
    if trainer is None or trainer.world_size <= 1 or not scores.errors:
        return
    from anomaly_lab.tasks.base import _gather_ranks

    frames = _gather_ranks(module, {"errors": torch.cat(scores.errors), "labels": torch.cat(scores.labels)})
    scores.errors, scores.labels = [frames["errors"]], [frames["labels"]]
    if scores.has_pixels:
        reduce = trainer.strategy.reduce
        scores.pixels.pos = reduce(scores.pixels.pos.to(module.device), reduce_op="sum").cpu()
        scores.pixels.neg = reduce(scores.pixels.neg.to(module.device), reduce_op="sum").cpu()


#: the name older code uses
VideoReconstructionModule = FrameReconstructionTask
