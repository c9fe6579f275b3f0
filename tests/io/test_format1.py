"""Folders written in parquet format 1 (flat arrays, int8/int64 flags, ``manifest.json``; see
``tests/io/data/make_format1_folders.py``) read back exactly as the format-1 reader read them, and
a format-2 file of the same rows decodes to the same tensors: the format change kept the values."""

import io
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from anomaly_lab.io.arrow import FORMAT_KEY
from anomaly_lab.io.folder import LEGACY_MANIFEST_NAME
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.registry import codec_for

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "format1")
NAMES = sorted(os.listdir(HERE))
LAYOUT = {"random_anomaly_compact": "compact", "spectrogram_compact": "compact", "timeseries": "with_clean"}


def decoded(folder):
    ds = ParquetDataset(folder, "train")
    return ds, ds.__getitems__(list(range(len(ds))))


def test_every_kind_has_a_format1_folder():
    assert NAMES == [
        "moving_mnist",
        "random_anomaly_compact",
        "random_anomaly_published",
        "spectrogram_compact",
        "spectrogram_published",
        "timeseries",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_format1_folders_read_as_before(name):
    folder = os.path.join(HERE, name)
    assert os.path.exists(os.path.join(folder, LEGACY_MANIFEST_NAME))  # the old manifest name
    ds, got = decoded(folder)
    assert FORMAT_KEY not in ds.metadata[0]  # format 1 declared no version
    before = np.load(os.path.join(folder, "decoded.npz"))
    assert sorted(got) == sorted(before.files)
    for key in before.files:
        assert got[key].dtype == torch.from_numpy(before[key]).dtype, key
        np.testing.assert_array_equal(got[key].numpy(), before[key], err_msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_format2_of_the_same_rows_decodes_to_the_same_tensors(name):
    folder = os.path.join(HERE, name)
    ds, old = decoded(folder)
    meta = ds.metadata[0]
    expected = np.load(os.path.join(folder, "expected.npz"))
    batch = {k: torch.from_numpy(expected[k]) for k in expected.files}
    codec = codec_for(meta)
    if name == "random_anomaly_compact":
        codec.configure(frame_dtype=meta["anomaly_lab.frame_dtype"])
    table = codec.to_table(batch, LAYOUT.get(name, "published"))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    new = codec.from_table(pq.read_table(buf), {**meta, FORMAT_KEY: "2"})
    assert sorted(new) == sorted(old)
    for key in old:
        assert torch.equal(new[key], old[key]), key
