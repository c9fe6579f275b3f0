"""A scikit-learn random-forest baseline on spectrogram features, run through ``train.py``."""

from anomaly_lab.models.random_forest.estimator import RandomForestDetector
from anomaly_lab.models.random_forest.features import spectrogram_features

__all__ = ["RandomForestDetector", "spectrogram_features"]
