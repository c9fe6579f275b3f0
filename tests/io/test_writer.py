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


def test_pipelined_interruption_keeps_only_finished_files(gen, tmp_path):
    class Exploding:
        def __init__(self, inner, after):
            self.inner, self.after, self.calls = inner, after, 0

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
        export(Exploding(gen, 5), tmp_path, size=60, workers=2)  # two files fed at once
    names = sorted(os.listdir(tmp_path))
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    assert {f["name"] for f in manifest["splits"]["train"]["files"]} == {n for n in names if n.endswith(".parquet")}
    entry = export(gen, tmp_path, size=60, workers=2)
    assert [f["rows"] for f in entry["files"]] == [12] * 5
    got = ParquetDataset(str(tmp_path), "train").__getitems__(list(range(60)))
    assert torch.equal(got["x"], gen.generate(torch.arange(60))["x"])


@pytest.mark.parametrize("workers", [1, 3])
def test_files_are_the_same_whatever_the_number_of_writers(gen, tmp_path, workers):
    export(gen, tmp_path / "one", size=40, workers=1)
    export(gen, tmp_path / "many", size=40, workers=workers)
    for name in sorted(os.listdir(tmp_path / "one")):
        if name.endswith(".parquet"):
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()


def test_float_frames_have_no_dictionary_or_statistics_labels_keep_them(gen, tmp_path):
    export(gen, tmp_path)
    meta = pq.ParquetFile(tmp_path / "train-00000.parquet").metadata.row_group(0)
    cols = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    x, y = cols["x.list.element.list.element"], cols["y.list.element"]
    assert not x.is_stats_set and "RLE_DICTIONARY" not in x.encodings and "PLAIN_DICTIONARY" not in x.encodings
    assert y.is_stats_set


def test_gzip_defaults_to_level_1_and_levels_are_checked(gen, tmp_path):
    opts = ExportOptions(compression="gzip")
    assert opts.effective_level() == 1
    for kw, needle in (
        ({"compression": "snappy", "compression_level": 1}, "has no levels"),
        ({"compression": "none", "compression_level": 1}, "has no levels"),
        ({"compression": "gzip", "compression_level": 0}, r"allowed: \[1, 9\]"),
        ({"compression": "zstd", "compression_level": 23}, "22"),
    ):
        with pytest.raises(ConfigError, match=needle):
            export(gen, tmp_path, **kw)


def shard_export(gen, out, shard, num_shards, size=30):
    opts = ExportOptions(rows_per_file=6, batch_size=6, progress=False, preview=False)
    return Exporter(gen, str(out), opts, shard=shard, num_shards=num_shards).export_split("train", size)


def test_shards_write_disjoint_files_and_merge_into_the_single_process_manifest(gen, tmp_path):
    export_dir = tmp_path / "single"
    single = Exporter(gen, str(export_dir), ExportOptions(rows_per_file=6, batch_size=6, progress=False))
    single.export_split("train", 30)
    sharded = tmp_path / "sharded"
    parts = [shard_export(gen, sharded, i, 3) for i in (2, 0)]
    assert not (sharded / "_manifest.json").exists()  # shard 1 has not run: nothing merged yet
    assert [f["name"] for f in parts[0]["files"]] == ["train-00004.parquet"]
    shard_export(gen, sharded, 1, 3)
    merged = json.loads((sharded / "_manifest.json").read_text())
    assert merged["splits"] == json.loads((export_dir / "_manifest.json").read_text())["splits"]
    assert len(ParquetDataset(str(sharded), "train")) == 30


def test_merge_refuses_gaps_overlaps_and_mismatched_shards(gen, tmp_path):
    from anomaly_lab.core.errors import DataFileError
    from anomaly_lab.io.writer import merge_shard_manifests, shard_manifest_name

    out = tmp_path / "s"
    shard_export(gen, out, 0, 2)
    shard_export(gen, out, 1, 2)
    path = out / shard_manifest_name(1, 2)
    good = json.loads(path.read_text())

    def merged_with(edit):
        m = json.loads(json.dumps(good))
        edit(m["splits"]["train"])
        path.write_text(json.dumps(m))
        return merge_shard_manifests(str(out), 2)

    with pytest.raises(DataFileError, match=r"leave rows 18\.\.23 of split 'train' unwritten"):
        merged_with(lambda e: e["files"].pop(0))
    with pytest.raises(DataFileError, match="twice"):
        merged_with(lambda e: e["files"].insert(0, {**e["files"][0], "first_index": 12, "name": "x.parquet"}))
    with pytest.raises(DataFileError, match="disagree on split 'train'"):
        merged_with(lambda e: e.update(size=36))
    path.write_text(json.dumps(good))
    assert merge_shard_manifests(str(out), 2)["splits"]["train"]["size"] == 30


def test_check_member_name():
    from anomaly_lab.core.errors import DataFileError
    from anomaly_lab.io.writer import check_member_name

    assert check_member_name("train-00000.parquet", "m") == "train-00000.parquet"
    for bad in ("../x.parquet", "/etc/passwd", "a/b.parquet", "..", "", None, 3):
        with pytest.raises(DataFileError, match="plain file names"):
            check_member_name(bad, "m")


def test_split_stride_is_checked_before_writing(gen, tmp_path):
    with pytest.raises(ConfigError, match="start \\+ size must be at most 1000000000"):
        Exporter(gen, str(tmp_path), ExportOptions(progress=False)).export_split("train", 4, start=999_999_998)
    assert not os.listdir(tmp_path)


def test_legacy_folder_without_preview_moves_its_pictures(gen, tmp_path):
    from anomaly_lab.io.folder import LEGACY_MANIFEST_NAME, MANIFEST_NAME, PREVIEW_DIR

    export(gen, tmp_path)
    os.replace(tmp_path / MANIFEST_NAME, tmp_path / LEGACY_MANIFEST_NAME)
    (tmp_path / "preview.png").write_bytes(b"png")
    entry = export(gen, tmp_path)  # resumes from manifest.json: every file is skipped
    assert [f["rows"] for f in entry["files"]] == [12, 12, 6]
    assert sorted(os.listdir(tmp_path)) == [MANIFEST_NAME, PREVIEW_DIR] + [f"train-0000{k}.parquet" for k in range(3)]
    assert (tmp_path / PREVIEW_DIR / "preview.png").read_bytes() == b"png"


def test_a_generator_that_reuses_its_output_buffer_still_exports_every_batch(gen, tmp_path):
    class Reusing:
        """Writes every batch into the same tensors (as an ``out=`` generator would)."""

        def __init__(self, inner):
            self.inner, self.buf = inner, None

        def generate(self, idx):
            b = self.inner.generate(idx)
            if self.buf is None or self.buf["x"].shape != b["x"].shape:
                self.buf = {k: v.clone() for k, v in b.items()}
            for k, v in b.items():
                self.buf[k].copy_(v)
            return dict(self.buf)

        def config_dict(self):
            return self.inner.config_dict()

        def codec(self):
            return self.inner.codec()

    export(Reusing(gen), tmp_path, size=48, workers=2)
    got = ParquetDataset(str(tmp_path), "train").__getitems__(list(range(48)))
    assert torch.equal(got["x"], gen.generate(torch.arange(48))["x"])


# -- a writer never waits for good on an export that stopped -------------------------------------
def _job():
    from anomaly_lab.io.writer import _FileJob

    return _FileJob("train", "/nowhere/train-00000.parquet", 0, 4)


def test_a_writer_on_an_empty_queue_stops_when_its_job_is_stopped():
    import threading
    import time

    from anomaly_lab.io.writer import _queue_batches

    job = _job()
    outcome = []

    def writer():
        try:
            list(_queue_batches(job))
            outcome.append("finished")
        except Exception as err:  # _Aborted
            outcome.append(type(err).__name__)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()  # nothing queued, not stopped: it waits
    job.stop.set()  # no abort marker reaches the queue (an interrupted put), only the flag
    thread.join(timeout=5)
    assert not thread.is_alive() and outcome == ["_Aborted"]


def test_a_stopped_job_whose_rows_are_all_queued_still_yields_them_all():
    from anomaly_lab.io.writer import _END, _queue_batches

    job = _job()
    job.queue.put({"i": 0})
    job.queue.put({"i": 1})
    job.stop.set()
    got = []
    reader = _queue_batches(job)
    got.append(next(reader))
    job.queue.put(_END)
    got.extend(reader)
    assert got == [{"i": 0}, {"i": 1}]
