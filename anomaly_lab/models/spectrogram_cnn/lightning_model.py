"""The spectrogram CNN as a classification model: multi-class and binary heads, ROAD's figures."""

from __future__ import annotations

from anomaly_lab.modalities.spectrogram.classes import CLASS_NAMES
from anomaly_lab.models.spectrogram_cnn.torch_model import SpectrogramCNN, count_parameters
from anomaly_lab.tasks.classification import ClassificationTask


class SpectrogramClassifier(ClassificationTask):
    """Classifies spectrogram batches (``x`` (B, 4, T, F), ``y`` class ids, ``anomalous``); see
    :class:`~anomaly_lab.tasks.classification.ClassificationTask` for the loss and the figures."""

    report_title = "spectrogram CNN, test: true vs predicted"

    def __init__(
        self,
        in_channels: int = 4,
        height: int = 256,
        width: int = 256,
        num_classes: int = 10,
        heads: str = "both",
        binary_weight: float = 1.0,
        channels: tuple[int, ...] = (32, 64, 128),
        dense: int = 128,
        dropout: float = 0.5,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        class_names: list[str] | None = None,
        optimizer=None,
        scheduler=None,
    ):
        # plain lists (not Hydra's ListConfig) keep checkpoints loadable with torch.load(weights_only=True)
        channels = [int(c) for c in channels]
        class_names = [str(c) for c in class_names] if class_names else None
        net = SpectrogramCNN(in_channels, height, width, num_classes, heads, tuple(channels), dense, dropout)
        super().__init__(
            net,
            input_shape=(in_channels, height, width),
            num_classes=num_classes,
            class_names=list(class_names) if class_names else list(CLASS_NAMES[:num_classes]),
            binary_weight=binary_weight,
            lr=lr,
            weight_decay=weight_decay,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])

    def trainable_weights(self) -> int:
        return count_parameters(self.net)
