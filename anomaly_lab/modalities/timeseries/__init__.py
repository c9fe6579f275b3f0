"""Time-series anomalies: synthetic base series or a user's CSV/parquet, batched injection of
GutenTAG's kinds and the seed's noise modes with exact labels, and the seed's ``ano`` task."""

from anomaly_lab.modalities.timeseries.base import SHAPES, BaseSeries
from anomaly_lab.modalities.timeseries.events import ALL_KINDS, KINDS, Events, FixedPlacement, RandomPlacement
from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.injectors import SeedNoise, apply_events

__all__ = [
    "SHAPES",
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
