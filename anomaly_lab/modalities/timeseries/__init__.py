"""Time-series anomalies: synthetic base series or a user's CSV/parquet, batched injection of
GutenTAG's kinds and the seed's noise modes with exact labels, and the seed's ``ano`` task."""

from anomaly_lab.modalities.timeseries.base import ALL_SHAPES, SHAPE_REGISTRY, SHAPES, BaseSeries
from anomaly_lab.modalities.timeseries.events import (
    ALL_KINDS,
    DEFAULT_KINDS,
    KINDS,
    Events,
    FixedPlacement,
    RandomPlacement,
)
from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.injectors import SeedNoise, apply_events
from anomaly_lab.modalities.timeseries.kinds import KIND_REGISTRY

__all__ = [
    "SHAPES",
    "ALL_SHAPES",
    "SHAPE_REGISTRY",
    "KIND_REGISTRY",
    "DEFAULT_KINDS",
    "BaseSeries",
    "ALL_KINDS",
    "KINDS",
    "Events",
    "FixedPlacement",
    "RandomPlacement",
    "TimeSeriesGenerator",
    "SeedNoise",
    "apply_events",
]
