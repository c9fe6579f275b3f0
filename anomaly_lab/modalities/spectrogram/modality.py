"""ROAD-like spectrograms as a registered modality: its typed batch, kinds (classes) and label check."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.base import Batch, Field, Modality, register_modality
from anomaly_lab.modalities.spectrogram.classes import ANOMALY_CLASSES, CLASS_NAMES
from anomaly_lab.modalities.spectrogram.generator import SpectrogramGenerator


class SpectrogramBatch(Batch):
    """Four-polarisation spectrograms with their class, anomalous flag and pixel mask."""

    modality = "spectrogram"
    FIELDS = {
        "x": Field(torch.float32, "(4, T, F)", "scaled spectrogram, one channel a polarisation"),
        "y": Field(torch.int64, "()", "class id (0 normal, 1..9 the anomaly classes)"),
        "anomalous": Field(torch.int64, "()", "1 when y > 0"),
        "mask": Field(torch.bool, "(T, F)", "the anomaly's pixels", optional=True),
        "strength": Field(torch.float32, "()", "the anomaly's drawn strength", optional=True),
    }

    @property
    def inputs(self) -> Tensor:
        return self["x"]

    @property
    def sample_label(self) -> Tensor:
        return self["y"]

    @property
    def masks(self) -> Tensor | None:
        return self.get("mask")

    @property
    def kind(self) -> Tensor:
        return self["y"]


def _example(kind: str | None) -> SpectrogramGenerator:
    mixture = "uniform" if kind is None else {kind: 1.0}
    return SpectrogramGenerator(time_bins=32, freq_bins=32, mixture=mixture, seed=6, device="cpu")


def _labels_agree(batch: Mapping[str, Tensor]) -> Tensor:
    b = SpectrogramBatch(batch)
    flag = b.sample_label > 0
    return (b["anomalous"].bool() == flag) & (b.masks.flatten(1).any(1) == flag)


MODALITY = register_modality(
    Modality(
        name="spectrogram",
        generator=SpectrogramGenerator,
        batch=SpectrogramBatch,
        kinds=lambda: (CLASS_NAMES[0], *ANOMALY_CLASSES),
        datamodule=GeneratorDataModule,
        example=_example,
        labels_agree=_labels_agree,
    )
)
