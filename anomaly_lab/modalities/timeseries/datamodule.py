"""A LightningDataModule of generated labelled series with clean splits for semi-supervised detectors."""

from __future__ import annotations

from collections.abc import Sequence

from anomaly_lab.core.errors import check_choice
from anomaly_lab.loading.generated import GeneratorDataModule


class CleanView:
    """The same generator with injection off: clean series, empty labels (same sample indices)."""

    def __init__(self, generator):
        self.generator = generator
        self.device = generator.device

    def generate(self, indices):
        return self.generator.generate(indices, inject=False)

    def config_dict(self) -> dict:
        return {**self.generator.config_dict(), "clean": True}

    def codec(self):
        return self.generator.codec()


class TimeSeriesDataModule(GeneratorDataModule):
    """Train/val/test series of a :class:`~anomaly_lab.modalities.timeseries.generator.TimeSeriesGenerator`
    on disjoint sample-index ranges; the splits in ``clean_splits`` (default train and val) come
    without anomalies, as semi-supervised detectors are trained and thresholded on normal data.

    Batches: ``x`` ``(B, T, C)``, ``clean``, ``labels`` ``(B, T, C)``, ``label`` ``(B, T)``, the
    event fields and ``index``.
    """

    def __init__(
        self,
        generator,
        batch_size: int = 16,
        train_size: int = 256,
        val_size: int = 32,
        test_size: int = 64,
        num_workers: int = 0,
        shuffle: bool = True,
        clean_splits: Sequence[str] = ("train", "val"),
    ):
        super().__init__(generator, batch_size, train_size, val_size, test_size, num_workers, shuffle)
        self.clean_splits = [check_choice("data.clean_splits entry", s, ("train", "val", "test")) for s in clean_splits]
        clean = CleanView(generator)
        for split in self.clean_splits:
            self.datasets[split].generator = clean
