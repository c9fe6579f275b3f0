"""Scores and metrics of video anomaly detection by reconstruction.

- ``frame_errors``: per-frame mean squared reconstruction error, the anomaly score of a frame;
- ``clip_deviation``: how far each frame's descriptor strays from its clip's median descriptor
  (a temporal-consistency score);
- ``regularity``: the tutorial's regularity score per sequence, ``1 - (e - min_t e) / max_t e``;
- ``auroc`` / ``average_precision``: the exact, tie-aware figures of :mod:`anomaly_lab.metrics.ranking`
  with unknown labels left out (sklearn's values);
- ``BinnedAUROC``: pixel-level AUROC over millions of pixels, streamed batch by batch as two
  histograms (its value differs from the exact one only through ties inside a bin);
- ``VideoScores``: collects a whole epoch and reports ``frame_auroc``, ``frame_auprc``,
  ``regularity_auroc`` and ``pixel_auroc``.

Labels of ``-1`` mean "unknown" and are left out of every metric.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from anomaly_lab.metrics import ranking


def frame_errors(recon: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per frame: ``(B, T, C, H, W)`` -> ``(B, T)`` float32."""
    return (recon.to(torch.float32) - target.to(torch.float32)).pow(2).flatten(2).mean(-1)


def clip_deviation(descriptors: Tensor, scale: Tensor | None = None) -> Tensor:
    """Temporal-consistency score ``(B, T)`` of per-frame descriptors ``(B, T, K)``:
    ``sum_k |d_k(t) - m_k| / scale_k`` with ``m_k`` the clip's median of ``d_k`` over its frames.
    ``scale`` ``(K,)`` is how much each descriptor typically strays in normal clips
    (:func:`median_deviation` of normal training clips); None weighs them all 1. Each clip's score
    depends on that clip alone."""
    if descriptors.dim() != 3:
        raise ValueError(f"descriptors must be (B, T, K), got shape {tuple(descriptors.shape)}")
    d = descriptors.to(torch.float32)
    dev = (d - d.median(dim=1, keepdim=True).values).abs()
    if scale is not None:
        if scale.shape != d.shape[-1:]:
            raise ValueError(f"scale must be ({d.shape[-1]},), got shape {tuple(scale.shape)}")
        dev = dev / scale.to(dev)
    return dev.sum(dim=-1)


def median_deviation(descriptors: Tensor) -> Tensor:
    """``(K,)``: the mean over clips and frames of ``|d_k(t) - m_k|``, each descriptor's typical
    distance from its clip's median; measured on normal clips it is the ``scale`` of
    :func:`clip_deviation`."""
    if descriptors.dim() != 3:
        raise ValueError(f"descriptors must be (B, T, K), got shape {tuple(descriptors.shape)}")
    d = descriptors.to(torch.float32)
    return (d - d.median(dim=1, keepdim=True).values).abs().mean(dim=(0, 1))


def regularity(errors: Tensor) -> Tensor:
    """Regularity ``(B, T)`` of per-frame errors ``(B, T)``: ``1 - (e - min_t e) / max_t e`` per
    sequence (1 = the most regular frame of its sequence); a sequence of zero errors is all 1."""
    low = errors.amin(dim=-1, keepdim=True)
    high = errors.amax(dim=-1, keepdim=True)
    return 1.0 - (errors - low) / torch.where(high > 0, high, torch.ones_like(high))


def auroc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count one half; labels
    < 0 are unknown and left out); NaN, silently, when only one class is present. The figure is
    :func:`anomaly_lab.metrics.ranking.auroc`."""
    return ranking.auroc(scores, labels, unknown_below_zero=True, warn=False)


def average_precision(scores: Tensor, labels: Tensor) -> float:
    """Average precision (scikit-learn's step sum, ties one threshold; labels < 0 left out); NaN
    without positives. The figure is :func:`anomaly_lab.metrics.ranking.auprc`."""
    return ranking.auprc(scores, labels, unknown_below_zero=True, warn=False)


class BinnedAUROC:
    """Streaming AUROC from histograms of scores in ``[low, high]`` (``bins`` bins on a square-root
    scale, which resolves the many small errors of a good reconstruction). Scores outside the range
    fall into the end bins."""

    def __init__(self, bins: int = 4096, low: float = 0.0, high: float = 1.0):
        self.bins, self.low, self.high = int(bins), float(low), float(high)
        self.pos = torch.zeros(self.bins, dtype=torch.float64)
        self.neg = torch.zeros(self.bins, dtype=torch.float64)

    def update(self, scores: Tensor, labels: Tensor) -> None:
        keep = labels.reshape(-1) >= 0
        s = scores.reshape(-1)[keep].to(torch.float32)
        y = labels.reshape(-1)[keep] > 0
        u = ((s - self.low) / (self.high - self.low)).clamp(0.0, 1.0).sqrt()
        b = (u * self.bins).to(torch.int64).clamp(max=self.bins - 1)
        self.pos += torch.bincount(b[y], minlength=self.bins).to("cpu", torch.float64)
        self.neg += torch.bincount(b[~y], minlength=self.bins).to("cpu", torch.float64)

    def compute(self) -> float:
        p, n = float(self.pos.sum()), float(self.neg.sum())
        if p == 0 or n == 0:
            return math.nan
        neg_below = torch.cumsum(self.neg, 0) - self.neg
        return float(((neg_below + 0.5 * self.neg) * self.pos).sum() / (p * n))


class VideoScores:
    """Collects per-frame errors, frame labels and pixel errors of an epoch (on the CPU).

    ``update(errors (B, T), frame_labels (B, T) or None, pixel_errors (B, T, 1, H, W) or None,
    masks or None)``; ``compute()`` -> ``frame_auroc``, ``frame_auprc``, ``regularity_auroc``
    (1 - regularity as the score) and ``pixel_auroc``, NaN where the labels allow no figure.
    """

    def __init__(self, pixel_bins: int = 4096):
        self.errors: list[Tensor] = []
        self.labels: list[Tensor] = []
        self.pixels = BinnedAUROC(pixel_bins)
        self.has_pixels = False

    def update(
        self,
        errors: Tensor,
        frame_labels: Tensor | None = None,
        pixel_errors: Tensor | None = None,
        masks: Tensor | None = None,
    ) -> None:
        errors = errors.detach().to("cpu", torch.float32)
        self.errors.append(errors)
        if frame_labels is None:
            frame_labels = torch.full(errors.shape, -1, dtype=torch.int64)
        frame_labels = frame_labels.detach().to("cpu", torch.int64)
        self.labels.append(frame_labels)
        if pixel_errors is not None and masks is not None:
            known = frame_labels.to(pixel_errors.device)
            pix_labels = torch.where(
                known[..., None, None, None] >= 0, masks.to(torch.int64), torch.full_like(masks, -1, dtype=torch.int64)
            )
            self.pixels.update(pixel_errors.detach(), pix_labels)
            self.has_pixels = True

    def compute(self) -> dict[str, float]:
        if not self.errors:
            return {}
        errors, labels = torch.cat(self.errors), torch.cat(self.labels)
        out = {
            "frame_auroc": auroc(errors, labels),
            "frame_auprc": average_precision(errors, labels),
            "regularity_auroc": auroc(1.0 - regularity(errors), labels),
        }
        if self.has_pixels:
            out["pixel_auroc"] = self.pixels.compute()
        return out
