import json
import os

import pyarrow.parquet as pq
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions, prepare_out_dir, sha256_file
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator


@pytest.fixture(scope="module")
def gen():
    return RandomAnomalyGenerator(seed=4, device="cpu")


def export(gen, out, split="train", size=30, **kw):
    opts = ExportOptions(
        rows_per_file=kw.pop("rows_per_file", 12), batch_size=kw.pop("batch_size", 8), progress=False, **kw
    )
    return Exporter(gen, str(out), opts).export_split(split, size)


def test_shards_manifest_and_checksums(gen, tmp_path):
    entry = export(gen, tmp_path)
    assert [f["name"] for f in entry["files"]] == ["train-00000.parquet", "train-00001.parquet", "train-00002.parquet"]
    assert [f["rows"] for f in entry["files"]] == [12, 12, 6]
    assert [f["first_index"] for f in entry["files"]] == [0, 12, 24]
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    for f in manifest["splits"]["train"]["files"]:
        assert sha256_file(str(tmp_path / f["name"])) == f["sha256"]
    meta = pq.read_schema(tmp_path / "train-00000.parquet").metadata
    assert meta[b"anomaly_lab.layout"] == b"published" and meta[b"anomaly_lab.split"] == b"train"
    # row groups follow the generation batches, so memory is bounded by batch_size
    assert pq.ParquetFile(tmp_path / "train-00000.parquet").metadata.num_row_groups == 2


@pytest.mark.parametrize("layout", ["published", "compact"])
def test_reader_round_trip_equals_on_the_fly(gen, tmp_path, layout):
    export(gen, tmp_path, "test", 30, layout=layout)
    ds = ParquetDataset(str(tmp_path), "test")
    assert len(ds) == 30
    rows = [29, 0, 13, 12, 5]
    got = ds.__getitems__(rows)
    want = gen.generate(torch.tensor(rows) + 2_000_000_000)
    assert torch.equal(got["y"], want["y"])
    if layout == "published":
        assert torch.equal(got["x"], want["x"])  # bit for bit
    else:
        assert float((got["x"] - want["x"]).abs().max()) <= 0.5 / 255 / 0.3081 + 1e-6
        assert torch.equal(got["index"], torch.tensor(rows) + 2_000_000_000)


def test_interrupted_write_leaves_no_partial_file(gen, tmp_path):
    class Exploding:
        def __init__(self, inner, after):
            self.inner, self.after, self.calls = inner, after, 0
            self.seq_len = inner.seq_len

        def generate(self, idx):
            self.calls += 1
            if self.calls > self.after:
                raise KeyboardInterrupt
            return self.inner.generate(idx)

        def config_dict(self):
            return self.inner.config_dict()

        def codec(self):
            return self.inner.codec()

    with pytest.raises(KeyboardInterrupt):
        export(Exploding(gen, 3), tmp_path, workers=1)  # dies inside the second file
    assert sorted(os.listdir(tmp_path)) == ["_manifest.json", "train-00000.parquet"]
    entry = export(gen, tmp_path)  # the same export resumes and completes
    assert [f["rows"] for f in entry["files"]] == [12, 12, 6]
    again = ParquetDataset(str(tmp_path), "train").__getitems__(list(range(30)))
    assert torch.equal(again["x"], gen.generate(torch.arange(30))["x"])


def test_manifest_of_other_settings_is_refused(gen, tmp_path):
    export(gen, tmp_path)
    other = RandomAnomalyGenerator(seed=5, device="cpu")
    with pytest.raises(ConfigError, match="other settings"):
        export(other, tmp_path)


def test_options_are_validated(gen, tmp_path):
    with pytest.raises(ConfigError, match="export.compression='lz5'"):
        export(gen, tmp_path, compression="lz5")
    with pytest.raises(ConfigError, match="export.format='npz'"):
        export(gen, tmp_path, format="npz")
    with pytest.raises(ConfigError, match="rows_per_file=0"):
        export(gen, tmp_path, rows_per_file=0)
    assert not os.listdir(tmp_path)


def test_prepare_out_dir_rejects_a_file_path(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(ConfigError, match="not writable"):
        prepare_out_dir(str(f / "sub"))
