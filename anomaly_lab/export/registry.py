"""Which codec reads a file, from the ``anomaly_lab.dataset`` key of its parquet metadata."""

from __future__ import annotations

import importlib

from anomaly_lab.errors import DataFileError

# dataset name -> "module:Class"; files without our metadata (the published RandomAnomaly files)
# are read as random_anomaly.
CODECS = {
    "random_anomaly": "anomaly_lab.export.random_anomaly:RandomAnomalyCodec",
    "spectrogram": "anomaly_lab.export.spectrogram:SpectrogramCodec",
    "moving_mnist": "anomaly_lab.export.moving_mnist:MovingMnistCodec",
    "timeseries": "anomaly_lab.export.timeseries:TimeSeriesCodec",
}


def codec_for(metadata: dict[str, str]):
    name = metadata.get("anomaly_lab.dataset", "random_anomaly")
    if name not in CODECS:
        raise DataFileError(f"no reader for dataset {name!r}; known: {sorted(CODECS)}")
    module, cls = CODECS[name].split(":")
    codec_cls = getattr(importlib.import_module(module), cls)
    if hasattr(codec_cls, "from_metadata"):
        return codec_cls.from_metadata(metadata)
    return codec_cls()
