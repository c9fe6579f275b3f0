"""Synthetic ROAD-like spectrograms (LOFAR autocorrelations) with nine anomaly classes."""

from anomaly_lab.modalities.spectrogram.classes import (
    ANOMALY_CLASSES,
    CLASS_NAMES,
    NUM_CLASSES,
    ROAD_CONTAMINATION,
    class_id,
    mixture_weights,
)
from anomaly_lab.modalities.spectrogram.generator import POLARISATIONS, SpectrogramGenerator
from anomaly_lab.modalities.spectrogram.scaling import apply_scaling, channel_percentiles, percentile_scale

__all__ = [
    "ANOMALY_CLASSES",
    "CLASS_NAMES",
    "NUM_CLASSES",
    "POLARISATIONS",
    "ROAD_CONTAMINATION",
    "SpectrogramGenerator",
    "apply_scaling",
    "channel_percentiles",
    "class_id",
    "mixture_weights",
    "percentile_scale",
]
