"""Anomalous Moving MNIST as a registered modality: its typed batch, kinds and label check."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from anomaly_lab.modalities.base import Batch, Field, Modality, register_modality
from anomaly_lab.modalities.moving_mnist import anomalies
from anomaly_lab.modalities.moving_mnist.datamodule import MovingMnistDataModule
from anomaly_lab.modalities.moving_mnist.generator import MovingMnistGenerator


class MovingMnistBatch(Batch):
    """Clips of two bouncing digits; labelled frames, pixel masks and the anomaly kind."""

    modality = "moving_mnist"
    FIELDS = {
        "frames": Field(torch.uint8, "(T, 1, H, W)", "the clip (uint8; float in [0, 1] with output=float)"),
        "frame_labels": Field(torch.int64, "(T,)", "1 for anomalous frames, 0 normal (-1 unknown in UCSD)"),
        "masks": Field(torch.bool, "(T, 1, H, W)", "the anomalous pixels", optional=True),
        "anomaly_kind": Field(torch.int64, "()", "0 normal, else 1 + the kind's index in kinds", optional=True),
        "affected_digits": Field(torch.bool, "(D,)", "which digits the anomaly changes", optional=True),
        "digit_labels": Field(torch.int64, "(D,)", "the digits' classes", optional=True),
        "clusters": Field(torch.int64, "(D,)", "the digits' similarity clusters", optional=True),
        "positions": Field(torch.int64, "(T, D, 2)", "each digit's top-left corner per frame", optional=True),
    }

    @property
    def inputs(self) -> Tensor:
        return self["frames"]

    @property
    def step_labels(self) -> Tensor:
        return self["frame_labels"]

    @property
    def sample_label(self) -> Tensor:
        return (self["frame_labels"] > 0).any(1).to(torch.int64)

    @property
    def masks(self) -> Tensor | None:
        return self.get("masks")

    @property
    def kind(self) -> Tensor | None:
        return self.get("anomaly_kind")


def _example(kind: str | None) -> MovingMnistGenerator:
    similarity = {"method": "pca_kmeans", "n_clusters": 10, "subset": 600}
    return MovingMnistGenerator(
        seq_len=5,
        frame_size=48,
        speed=(2, 4),
        similarity=similarity,
        kinds=kind or list(anomalies.KINDS),
        seed=4,
        device="cpu",
    )


def _labels_agree(batch: Mapping[str, Tensor]) -> Tensor:
    b = MovingMnistBatch(batch)
    anomalous_frame = b.step_labels > 0
    masked = b.masks.flatten(2).any(-1)
    kind_set = (b.kind > 0) == anomalous_frame.any(1)
    return (anomalous_frame == masked).all(1) & kind_set


MODALITY = register_modality(
    Modality(
        name="moving_mnist",
        generator=MovingMnistGenerator,
        batch=MovingMnistBatch,
        kinds=lambda: anomalies.KINDS,
        datamodule=MovingMnistDataModule,
        example=_example,
        labels_agree=_labels_agree,
    )
)
