"""The estimator task: detectors fitted in one pass over the data (scikit-learn models), run by
``train.py`` through the same contract as the Lightning tasks instead of a trainer.

A subclass implements :meth:`EstimatorTask.fit_datamodule` (draw the train split, fit, score the
val and test splits, write its report into ``out_dir``) and :meth:`EstimatorTask.predict`; it
names the batches it reads with :meth:`EstimatorTask.check_batch`, as the Lightning tasks do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from torch import Tensor


class EstimatorTask(ABC):
    """Base of the detectors ``train.py`` fits without a Lightning trainer."""

    @abstractmethod
    def fit_datamodule(self, datamodule, out_dir: str | None = None) -> dict[str, float]:
        """Fit on the train split, score val and test; returns ``{"val/..": .., "test/..": ..}``."""

    @abstractmethod
    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Per-sample ``scores`` (higher = more anomalous) and ``preds`` of a batch."""

    def check_batch(self, batch: Mapping[str, Tensor], data_config: Mapping | None = None) -> None:
        """Raise a one-line ConfigError when the data does not fit (see ``tasks.base.check_pair``)."""

    def trainable_weights(self) -> int:
        """The model's size as ``train.py`` reports it (tree nodes for a forest)."""
        return 0
