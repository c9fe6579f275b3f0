import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.io.reader import BlockShuffleSampler, ParquetDataset, find_split_files


def write_published_like(path, rows=7, steps=11, side=50):
    """A file shaped like the released RandomAnomaly parquet (pandas lists, gzip, no metadata)."""
    rng = np.random.default_rng(0)
    xs = [[rng.standard_normal(side * side).astype(np.float32) for _ in range(steps)] for _ in range(rows)]
    ys = [np.eye(steps, dtype=np.int64)[r % (steps - 1)] for r in range(rows)]
    pd.DataFrame({"x": xs, "y": ys}).to_parquet(path, compression="gzip")
    return xs, ys


def test_reads_files_in_the_published_layout(tmp_path):
    xs, ys = write_published_like(tmp_path / "RandomAnomaly_Test.parquet")
    ds = ParquetDataset(str(tmp_path / "RandomAnomaly_Test.parquet"))
    b = ds.__getitems__([6, 2])
    assert b["x"].shape == (2, 11, 1, 50, 50)
    np.testing.assert_array_equal(b["x"][0, 3, 0].numpy().reshape(-1), xs[6][3])
    np.testing.assert_array_equal(b["y"][1].numpy(), ys[2])
    assert torch.equal(ds[6]["y"], b["y"][0])


def test_missing_and_corrupt_files_are_clear(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        find_split_files(str(tmp_path / "nope"), "train")
    with pytest.raises(DataFileError, match="no parquet files for split 'train'"):
        find_split_files(str(tmp_path), "train")
    (tmp_path / "train-00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataFileError, match="not a readable parquet file"):
        ParquetDataset(str(tmp_path), "train")


def test_block_shuffle_covers_every_row_once_per_epoch():
    bounds = np.array([0, 4, 10, 11, 20])
    s = BlockShuffleSampler(bounds, seed=3)
    first, second = list(s), list(s)
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20))
    assert first != second  # a new order each epoch
    # rows of one row group stay together
    group = np.searchsorted(bounds, first, side="right") - 1
    assert int((np.diff(group) != 0).sum()) == 3
