"""A LightningDataModule over a file in ROAD's layout (the real ``ROAD_dataset.h5`` or a synthetic
one written by ``generate.py data=spectrogram export.format=h5``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from anomaly_lab.core.errors import check_choice, check_range
from anomaly_lab.loading.stored import StoredDataModule
from anomaly_lab.modalities.spectrogram.road import (
    GROUPS,
    MULTI_LABEL,
    SELECTIONS,
    UNKNOWN,
    RoadDataset,
    RoadFile,
    prepare_road,
)
from anomaly_lab.modalities.spectrogram.scaling import SCALINGS


class RoadDataModule(StoredDataModule):
    """Train/val/test splits of a ROAD file, prepared as the seed did (see
    :func:`anomaly_lab.modalities.spectrogram.road.prepare_road` for the options) and read lazily.

    Batches: ``x`` (B, 4, T, F) float32 (``size`` x ``size`` when ``size`` is set), ``y`` (B,) class
    ids (0 normal), ``anomalous``, ``labels_multi`` (B, 10) and ``index``. The file is opened in
    :meth:`setup`; then ``summary`` reports what the preparation kept and dropped.
    """

    def __init__(
        self,
        path: str,
        groups: Sequence[str] = ("train_data", "anomaly_data"),
        multi_label: str = "drop",
        drop_labels: Sequence[str] = ("1",),
        unknown_labels: str = "drop",
        dedupe: bool = False,
        selection: str = "balanced",
        n_per_class: int = 50,
        n_normal: int | None = None,
        contamination: Mapping[str, float] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        scale: str = "percentile",
        scale_percentiles: Sequence[float] = (1.0, 99.0),
        size: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        device: str = "cpu",
    ):
        super().__init__()
        check_range("data.batch_size", batch_size, 1, integer=True)
        check_range("data.num_workers", num_workers, 0, integer=True)
        check_choice("data.scale", scale, SCALINGS)
        if size is not None:
            check_range("data.size", size, 8, integer=True)
        check_choice("data.selection", selection, SELECTIONS)
        check_choice("data.multi_label", multi_label, MULTI_LABEL)
        check_choice("data.unknown_labels", unknown_labels, UNKNOWN)
        for g in groups:
            check_choice("data.groups entry", g, GROUPS)
        check_range("data.val_fraction", val_fraction, 0.0, 1.0)
        check_range("data.test_fraction", test_fraction, 0.0, 1.0)
        self.path = str(path)
        self.options = dict(
            groups=list(groups),
            multi_label=multi_label,
            drop_labels=list(drop_labels),
            unknown_labels=unknown_labels,
            dedupe=dedupe,
            selection=selection,
            n_per_class=n_per_class,
            n_normal=n_normal,
            contamination=dict(contamination) if contamination is not None else None,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
        self.reading = dict(scale=scale, scale_percentiles=tuple(scale_percentiles), size=size, device=device)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.road: RoadFile | None = None
        self.splits: dict = {}
        self.summary: dict = {}
        self.datasets: dict[str, RoadDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Open the file and prepare the splits (once; the file is read lazily afterwards)."""
        if self.datasets:
            return
        self.road = RoadFile(self.path)
        self.splits, self.summary = prepare_road(self.road, **self.options)
        self.datasets = {s: RoadDataset(self.road, rows, **self.reading) for s, rows in self.splits.items()}
