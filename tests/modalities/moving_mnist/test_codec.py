"""Moving MNIST codec: parquet round trips, the seed's .npz layout with labels beside it, the boxed
preview strip and GIF, the registry, and generate.py data=moving_mnist end to end."""

import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.core.splits import split_offset
from anomaly_lab.io.registry import codec_for
from anomaly_lab.modalities.moving_mnist import KINDS, MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.codec import MovingMnistCodec, write_npz
from tests import forkrun
from tests.conftest import REPO_ROOT

TEST = split_offset("test")


@pytest.fixture(scope="module")
def gen(mnist_train, tmp_path_factory):
    return MovingMnistGenerator(
        source=mnist_train,
        seq_len=8,
        seed=1,
        device="cpu",
        kinds={k: 1.0 for k in KINDS},
        similarity={"method": "pca_kmeans", "n_init": 1, "cache_dir": str(tmp_path_factory.mktemp("c"))},
    )


def batch_of(g, n=12, start=TEST):
    idx = torch.arange(start, start + n)
    b = g.generate(idx)
    b["index"] = idx
    return b


def test_parquet_round_trip_is_exact(gen):
    b = batch_of(gen)
    codec = gen.codec()
    table = codec.to_table(b, "published")
    assert table.column_names == [
        "frames",
        "frame_labels",
        "masks",
        "anomaly_kind",
        "anomalous",
        "affected_digits",
        "digit_labels",
        "clusters",
        "positions",
        "index",
    ]
    # format 2: frames keep their (T, H, W) shape in the schema, flags are bool, ids int64
    frame_type = "fixed_size_list<item: fixed_size_list<item: fixed_size_list<item: uint8>[64]>[64]>[8]"
    assert str(table.schema.field("frames").type) == frame_type
    assert str(table.schema.field("masks").type) == frame_type.replace("uint8", "bool")
    assert table.schema.field("frame_labels").type == pa.list_(pa.bool_(), 8)
    assert table.schema.field("anomalous").type == pa.bool_()
    assert table.schema.field("anomaly_kind").type == pa.int64()
    meta = codec.metadata("published")
    assert meta["anomaly_lab.dataset"] == "moving_mnist" and meta["anomaly_lab.shape"] == "8,1,64,64"
    back = codec_for(meta).from_table(table, meta)
    for key in (
        "frames",
        "frame_labels",
        "masks",
        "anomaly_kind",
        "affected_digits",
        "digit_labels",
        "clusters",
        "positions",
        "index",
    ):
        assert torch.equal(back[key], b[key].cpu()), key
    assert table.column("anomalous").to_pylist() == b["frame_labels"].any(1).tolist()


def test_float_frames_come_back_as_floats(mnist_train, gen):
    g = MovingMnistGenerator(source=mnist_train, similarity=gen.table, seq_len=8, output="float", device="cpu")
    b = batch_of(g, 3)
    codec = g.codec()
    back = codec.from_table(codec.to_table(b), codec.metadata())
    assert back["frames"].dtype == torch.float32 and torch.equal(back["frames"], b["frames"])


def test_table_errors(gen):
    codec = gen.codec()
    table = codec.to_table(batch_of(gen, 2))
    with pytest.raises(DataFileError, match=r"also needs \['masks'\]"):
        codec.from_table(table.drop(["masks"]), codec.metadata())
    with pytest.raises(DataFileError, match="anomaly_lab.shape"):
        MovingMnistCodec().from_table(table.replace_schema_metadata({}), {})
    with pytest.raises(ConfigError, match="export.layout='compact'"):
        codec.to_table(batch_of(gen, 2), "compact")
    with pytest.raises(ConfigError, match="export.format='h5'"):
        codec.write_other("h5", [], "x.h5.tmp")


def test_npz_is_the_notebook_layout_with_labels_beside_it(gen, tmp_path):
    batches = [batch_of(gen, 5, TEST), batch_of(gen, 4, TEST + 5)]
    written = gen.codec().write_other("npz", iter(batches), str(tmp_path / "test.npz.tmp"))
    assert sorted(os.path.basename(p) for p in written) == ["test.labels.npy.tmp", "test.npz.tmp"]
    for p in written:
        os.replace(p, p[:-4])
    with np.load(tmp_path / "test.npz") as z:
        assert list(z.keys()) == ["anommnist"]
        arr = z["anommnist"]
    assert arr.shape == (9, 8, 1, 64, 64) and arr.dtype == np.uint8
    frames = torch.cat([b["frames"] for b in batches])
    assert np.array_equal(arr, frames.numpy())
    labels = np.load(tmp_path / "test.labels.npy")
    assert labels.shape == (9, 8) and labels.dtype == np.uint8
    assert np.array_equal(labels, torch.cat([b["frame_labels"] for b in batches]).numpy())
    with pytest.raises(ValueError, match="no batches"):
        write_npz(iter([]), str(tmp_path / "e.npz.tmp"), str(tmp_path / "e.labels.npy.tmp"))


def test_preview_strip_boxes_anomalous_frames_and_gif_animates(gen, tmp_path):
    b = batch_of(gen, 6)
    path = tmp_path / "preview.png"
    gen.codec().preview(b, str(path))
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape[0] == 6 * (64 * 2 + 4)
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    cell = 64 * 2 + 4
    for r in range(6):  # a red frame around exactly the anomalous frames of each row
        for t in range(8):
            x0 = img.shape[1] - 8 * cell + t * cell
            has_box = bool(red[r * cell, x0 : x0 + cell].any())
            assert has_box == bool(b["frame_labels"][r, t]), (r, t)
    gif = Image.open(tmp_path / "preview.gif")
    assert gif.n_frames == 8 and gif.info["loop"] == 0


def test_preview_of_a_normal_split_shows_anomalies_too(gen, tmp_path):
    b = batch_of(gen, 4, start=0)  # the train split has none
    assert int(b["frame_labels"].sum()) == 0
    gen.codec().preview(b, str(tmp_path / "p.png"))
    img = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert bool(((img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)).any())


def run_generate(*overrides):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "OMP_NUM_THREADS": "1"}
    return forkrun.run(
        [sys.executable, os.path.join(REPO_ROOT, "generate.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )


FAST = (
    "data=moving_mnist",
    "device=cpu",
    "data.generator.seq_len=6",
    "data.generator.similarity.method=pca_kmeans",
    "data.generator.similarity.n_init=1",
    "data.generator.similarity.subset=1000",
)


def test_generate_writes_parquet_and_preview_that_read_back(tmp_path):
    out = tmp_path / "mm"
    res = run_generate(
        *FAST,
        f"data.generator.similarity.cache_dir={tmp_path / 'cache'}",
        "size=10",
        "split=test",
        "batch_size=4",
        f"out_dir={out}",
    )
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == [
        "_manifest.json",
        "_preview",
        "test-00000.parquet",
    ]  # issue 13: readers skip _ names
    assert sorted(os.listdir(out / "_preview")) == ["preview.gif", "preview.png"]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["settings"]["generator"]["dataset"] == "moving_mnist"
    assert manifest["settings"]["generator"]["similarity"]["method"] == "pca_kmeans"
    table = pq.read_table(out / "test-00000.parquet")
    assert table.num_rows == 10 and table.schema.metadata[b"anomaly_lab.dataset"] == b"moving_mnist"
    from anomaly_lab.io.reader import ParquetDataset

    rows = ParquetDataset(str(out), "test").__getitems__(list(range(10)))
    assert rows["frames"].shape == (10, 6, 1, 64, 64) and rows["frames"].dtype == torch.uint8
    assert torch.equal(rows["index"], torch.arange(TEST, TEST + 10))


def test_generate_npz_holds_the_same_samples_as_parquet(tmp_path):
    cache = f"data.generator.similarity.cache_dir={tmp_path / 'cache'}"
    common = (*FAST, cache, "size=10", "split=test", "batch_size=4", "export.preview=false")
    assert run_generate(*common, f"out_dir={tmp_path / 'pq'}").returncode == 0
    res = run_generate(*common, f"out_dir={tmp_path / 'npz'}", "export.format=npz")
    assert res.returncode == 0, res.stderr
    npz = tmp_path / "npz"
    assert sorted(os.listdir(npz)) == ["_manifest.json", "test.labels.npy", "test.npz"]
    from anomaly_lab.io.reader import ParquetDataset

    rows = ParquetDataset(str(tmp_path / "pq"), "test").__getitems__(list(range(10)))
    with np.load(npz / "test.npz") as z:
        assert np.array_equal(z["anommnist"], rows["frames"].numpy())
    assert np.array_equal(np.load(npz / "test.labels.npy"), rows["frame_labels"].numpy())
