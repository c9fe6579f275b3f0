"""Writes ``tests/io/data/format1/``: small exports in the first file format (flat frame lists, the
manifest as ``manifest.json``), made with anomaly_lab at commit 7921c7b, before format version 2.

Kept so the reader is tested against files written the old way; rerunning it with today's code
would write format 2, so it is a record of how the files were made, not something to rerun. Each
folder holds ``expected.npz`` (the batch the generator made) and ``decoded.npz`` (what the
format-1 reader gave back, bit for bit; lossy only for the compact layouts).

    PYTHONPATH=. python tests/io/data/make_format1_folders.py
"""

import os
import shutil
import tempfile

import numpy as np
import torch

from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.modalities.moving_mnist import KINDS, MovingMnistGenerator
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.modalities.spectrogram import SpectrogramGenerator
from anomaly_lab.modalities.timeseries.generator import TimeSeriesGenerator
from anomaly_lab.sources import load_source

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "format1")
ROWS = 3


def write(name, generator, layout=None, **codec_options):
    out = os.path.join(HERE, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    codec = generator.codec()
    if codec_options:
        codec.configure(**codec_options)
    options = ExportOptions(layout=layout, rows_per_file=2, batch_size=2, progress=False, preview=False)
    Exporter(generator, out, options, codec=codec).export_split("train", ROWS)
    batch = generator.generate(torch.arange(ROWS))
    batch.setdefault("index", torch.arange(ROWS))
    np.savez(os.path.join(out, "expected.npz"), **{k: v.cpu().numpy() for k, v in batch.items()})
    ds = ParquetDataset(out, "train")
    decoded = ds.__getitems__(list(range(len(ds))))
    np.savez(os.path.join(out, "decoded.npz"), **{k: v.numpy() for k, v in decoded.items()})


if __name__ == "__main__":
    mnist = load_source("bundled", split="train")
    ra = RandomAnomalyGenerator(seed=2, device="cpu", image_size=16, seq_len=5)
    write("random_anomaly_published", ra, "published")
    write("random_anomaly_compact", ra, "compact", frame_dtype="uint8")
    with tempfile.TemporaryDirectory() as cache:
        mm = MovingMnistGenerator(
            source=mnist,
            seq_len=5,
            frame_size=40,
            seed=1,
            device="cpu",
            kinds={k: 1.0 for k in KINDS},
            anomaly_fraction=1.0,
            similarity={"method": "pca_kmeans", "n_init": 1, "cache_dir": cache},
        )
        write("moving_mnist", mm)
    sp = SpectrogramGenerator(time_bins=8, freq_bins=8, seed=2, device="cpu")
    write("spectrogram_published", sp, "published")
    write("spectrogram_compact", sp, "compact")
    write("timeseries", TimeSeriesGenerator(length=16, channels=2, seed=5, device="cpu"), "with_clean")
