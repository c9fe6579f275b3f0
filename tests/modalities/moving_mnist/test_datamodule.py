"""Video data modules: Anomalous Moving MNIST splits made on the fly (normal training clips,
labelled test clips, the same samples at any batch size) and UCSD-style folders."""

import numpy as np
import pytest
import torch
from PIL import Image

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.splits import split_offset
from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.datamodule import MovingMnistDataModule, UcsdDataModule


@pytest.fixture(scope="module")
def gen(mnist_train, tmp_path_factory):
    return MovingMnistGenerator(
        source=mnist_train,
        seq_len=6,
        seed=5,
        device="cpu",
        similarity={
            "method": "pca_kmeans",
            "n_init": 1,
            "subset": 1000,
            "cache_dir": str(tmp_path_factory.mktemp("sim")),
        },
    )


def test_moving_mnist_splits(gen):
    dm = MovingMnistDataModule(gen, batch_size=16, train_size=48, val_size=32, test_size=64)
    dm.setup("fit")
    table = gen.table
    dm.setup("test")
    assert gen.table is table  # built once
    train = list(dm.train_dataloader())
    assert len(train) == 3 and train[0]["frames"].shape == (16, 6, 1, 64, 64)
    assert all(int(b["frame_labels"].sum()) == 0 for b in train)  # detectors learn from normal clips
    seen = torch.cat([b["index"] for b in train])
    assert sorted(seen.tolist()) == list(range(48))  # shuffled, each once
    test = list(dm.test_dataloader())
    idx = torch.cat([b["index"] for b in test])
    assert idx.tolist() == list(range(split_offset("test"), split_offset("test") + 64))
    anomalous = torch.cat([b["frame_labels"].any(1) for b in test]).float().mean()
    assert 0.3 < float(anomalous) < 0.7
    val = next(iter(dm.val_dataloader()))
    assert int(val["index"][0]) == split_offset("val")
    # the same test clips whatever the batch size
    other = MovingMnistDataModule(gen, batch_size=5, train_size=48, val_size=32, test_size=64)
    again = torch.cat([b["frames"] for b in other.test_dataloader()])
    assert torch.equal(again, torch.cat([b["frames"] for b in test]))


def write_ucsd(root, train_videos=4, frames=10):
    img = (np.arange(64).reshape(8, 8) * 3).astype(np.uint8)
    for split, name in (("Train", "Train"), ("Test", "Test")):
        for v in range(train_videos if split == "Train" else 1):
            d = root / split / f"{name}{v + 1:03d}"
            d.mkdir(parents=True)
            for t in range(frames):
                Image.fromarray(img).save(d / f"{t + 1:03d}.tif")
    gt = root / "Test" / "Test001_gt"
    gt.mkdir()
    for t in range(frames):
        Image.fromarray(np.full((8, 8), 255 if t == 3 else 0, dtype=np.uint8)).save(gt / f"{t + 1:03d}.bmp")


def test_ucsd_module_holds_out_normal_clips(tmp_path):
    write_ucsd(tmp_path)
    dm = UcsdDataModule(str(tmp_path), clip_len=5, size=8, val_fraction=0.25, batch_size=2, seed=1)
    dm.setup()
    train, val = dm.datasets["train"].indices, dm.datasets["val"].indices
    assert len(train) == 6 and len(val) == 2 and not set(train) & set(val)
    assert sorted(train + val) == list(range(8))
    again = UcsdDataModule(str(tmp_path), clip_len=5, size=8, val_fraction=0.25, batch_size=2, seed=1)
    again.setup()
    assert again.datasets["val"].indices == val  # fixed by the seed
    batches = list(dm.train_dataloader())
    assert len(batches) == 3 and batches[0]["frames"].shape == (2, 5, 1, 8, 8)
    test = list(dm.test_dataloader())
    labels = torch.cat([b["frame_labels"] for b in test])
    assert labels.tolist() == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0]]


def test_ucsd_module_is_lazy_and_checks_values(tmp_path):
    dm = UcsdDataModule(str(tmp_path / "not_yet"))  # configs instantiate before the data exists
    assert dm.datasets == {}
    with pytest.raises(ConfigError, match="data.val_fraction=1.0 is out of range"):
        UcsdDataModule(str(tmp_path), val_fraction=1.0)
    with pytest.raises(ConfigError, match="data.batch_size=0"):
        UcsdDataModule(str(tmp_path), batch_size=0)
