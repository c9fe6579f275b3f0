"""The seed's spectrogram CNN (3 conv-pool blocks 32/64/128, dense 128, dropout 0.5)."""

from anomaly_lab.models.spectrogram_cnn.torch_model import SpectrogramCNN

__all__ = ["SpectrogramCNN"]
