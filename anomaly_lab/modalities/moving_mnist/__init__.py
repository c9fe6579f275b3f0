"""Anomalous Moving MNIST: similar-digit clusters, bouncing paths, batched frames and labelled anomalies."""

from anomaly_lab.modalities.moving_mnist.anomalies import ANOMALY_KINDS, KINDS
from anomaly_lab.modalities.moving_mnist.generator import MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.similarity import METHODS, SimilarityTable, build_similarity_table

__all__ = ["ANOMALY_KINDS", "KINDS", "METHODS", "MovingMnistGenerator", "SimilarityTable", "build_similarity_table"]
