"""Which codec reads a file, from the ``anomaly_lab.dataset`` key of its parquet metadata."""

from __future__ import annotations

import importlib

from anomaly_lab.core.errors import DataFileError

# dataset name -> "module:Class"; files without our metadata (the published RandomAnomaly files)
# are read as random_anomaly.
CODECS = {
    "random_anomaly": "anomaly_lab.modalities.random_anomaly.codec:RandomAnomalyCodec",
    "spectrogram": "anomaly_lab.modalities.spectrogram.codec:SpectrogramCodec",
    "moving_mnist": "anomaly_lab.modalities.moving_mnist.codec:MovingMnistCodec",
    "timeseries": "anomaly_lab.modalities.timeseries.codec:TimeSeriesCodec",
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
