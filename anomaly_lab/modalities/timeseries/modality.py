"""Labelled time series as a registered modality: its typed batch, kinds and label check."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from anomaly_lab.modalities.base import Batch, Field, Modality, register_modality
from anomaly_lab.modalities.timeseries.datamodule import TimeSeriesDataModule
from anomaly_lab.modalities.timeseries.events import KINDS
from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator


class TimeSeriesBatch(Batch):
    """Series with their clean version, point labels per channel and per step, and the events."""

    modality = "timeseries"
    FIELDS = {
        "x": Field(torch.float32, "(T, C)", "the series with anomalies"),
        "clean": Field(torch.float32, "(T, C)", "the series before injection", optional=True),
        "labels": Field(torch.bool, "(T, C)", "anomalous points per channel", optional=True),
        "label": Field(torch.int64, "(T,)", "1 where any channel is anomalous"),
        "anomalous": Field(torch.int64, "()", "1 when the series has an anomaly", optional=True),
        "event_start": Field(torch.int64, "(E,)", "first step of each event (E slots)", optional=True),
        "event_end": Field(torch.int64, "(E,)", "one past its last step", optional=True),
        "event_kind": Field(torch.int64, "(E,)", "index into ALL_KINDS, -1 for an empty slot", optional=True),
        "event_channel": Field(torch.int64, "(E,)", "the channel it is in (-1: all)", optional=True),
    }

    @property
    def inputs(self) -> Tensor:
        return self["x"]

    @property
    def step_labels(self) -> Tensor:
        return self["label"]

    @property
    def sample_label(self) -> Tensor:
        return self["label"].amax(1)

    @property
    def masks(self) -> Tensor | None:
        return self.get("labels")

    @property
    def kind(self) -> Tensor | None:
        return self.get("event_kind")


def _example(kind: str | None) -> TimeSeriesGenerator:
    anomalies = {"kinds": [kind] if kind else list(KINDS)}
    return TimeSeriesGenerator(length=96, channels=2, shapes=["sine", "ecg"], anomalies=anomalies, seed=7, device="cpu")


def _labels_agree(batch: Mapping[str, Tensor]) -> Tensor:
    b = TimeSeriesBatch(batch)
    per_step = b.step_labels.bool() == b.masks.any(-1)
    untouched = (b["x"] == b["clean"]) | b.masks
    t = torch.arange(b.step_labels.shape[1])[None, :, None]
    inside = ((b.kind[:, None, :] >= 0) & (t >= b["event_start"][:, None, :]) & (t < b["event_end"][:, None, :])).any(
        -1
    )
    return per_step.all(1) & untouched.flatten(1).all(1) & (~b.step_labels.bool() | inside).all(1)


MODALITY = register_modality(
    Modality(
        name="timeseries",
        generator=TimeSeriesGenerator,
        batch=TimeSeriesBatch,
        kinds=lambda: KINDS,
        datamodule=TimeSeriesDataModule,
        example=_example,
        labels_agree=_labels_agree,
    )
)
