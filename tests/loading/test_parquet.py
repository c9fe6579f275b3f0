import json
import logging
import os

import lightning as L
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.io.folder import find_manifest
from anomaly_lab.io.reader import ParquetDataset
from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.loading.parquet import ParquetDataModule, RowRange, parquet_loader
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from tests.cli.test_train import run_train


def test_parquet_datamodule_serves_the_exported_splits(tmp_path):
    gen = RandomAnomalyGenerator(seed=2, device="cpu", image_size=16)
    ex = Exporter(gen, str(tmp_path), ExportOptions(rows_per_file=10, batch_size=5, progress=False))
    for split, size in (("train", 20), ("validate", 6), ("test", 6)):
        ex.export_split(split, size)
    dm = ParquetDataModule(str(tmp_path), batch_size=4, seed=0)
    train = list(dm.train_dataloader())
    assert sum(len(b["y"]) for b in train) == 20
    got = torch.cat([b["y"] for b in train])
    want = gen.generate(torch.arange(20))["y"]
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
    test = torch.cat([b["x"] for b in dm.test_dataloader()])
    assert torch.equal(test, gen.generate(torch.arange(6) + 2_000_000_000)["x"])
    val = torch.cat([b["y"] for b in dm.val_dataloader()])
    assert torch.equal(val, gen.generate(torch.arange(6) + 1_000_000_000)["y"])


# -- a folder with only a train split (plain `python generate.py`) -------------------------------------
@pytest.fixture(scope="module")
def train_only(tmp_path_factory):
    gen = RandomAnomalyGenerator(seed=2, device="cpu", image_size=16)
    folder = tmp_path_factory.mktemp("train_only")
    Exporter(gen, str(folder), ExportOptions(rows_per_file=16, batch_size=8, progress=False)).export_split("train", 40)
    return gen, str(folder)


def test_missing_validation_and_test_splits_are_held_out_of_train(train_only, caplog):
    gen, folder = train_only
    dm = ParquetDataModule(folder, batch_size=4, seed=0)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert "no 'validate' or 'test' split" in caplog.text and "last 4 of the 40 train rows" in caplog.text
    train = torch.cat([b["x"] for b in dm.train_dataloader()])
    val = torch.cat([b["x"] for b in dm.val_dataloader()])
    test = torch.cat([b["x"] for b in dm.test_dataloader()])
    assert (len(train), len(val), len(test)) == (32, 4, 4)
    made = gen.generate(torch.arange(40))["x"]
    assert torch.equal(val, made[32:36]) and torch.equal(test, made[36:40])  # the last rows, in order
    seen = {tuple(r.flatten()[:64].tolist()) for r in train}
    assert seen == {tuple(r.flatten()[:64].tolist()) for r in made[:32]}  # train is the rest, each once


def test_holdout_zero_keeps_a_missing_split_an_error_that_says_what_to_do(train_only):
    _, folder = train_only
    dm = ParquetDataModule(folder, holdout=0)
    assert len(dm.train_dataloader().dataset) == 40
    with pytest.raises(
        DataFileError, match=r"no parquet files for split 'validate'.*python generate.py split=validate"
    ):
        dm.val_dataloader()
    with pytest.raises(ConfigError, match="data.holdout=0.7"):
        ParquetDataModule(folder, holdout=0.7)


@pytest.mark.parametrize("name", ["val", "validation"])
def test_validation_files_under_any_of_its_names_are_found(tmp_path, name):
    gen = RandomAnomalyGenerator(seed=2, device="cpu", image_size=16)
    ex = Exporter(gen, str(tmp_path), ExportOptions(rows_per_file=10, batch_size=5, progress=False))
    ex.export_split("train", 10)
    ex.export_split("val", 5)
    if name == "validation":  # as HF datasets names it
        os.rename(tmp_path / "val-00000.parquet", tmp_path / "validation-00000.parquet")
        os.remove(find_manifest(str(tmp_path)))  # a folder without one: found by file name
    dm = ParquetDataModule(str(tmp_path), batch_size=5)
    got = torch.cat([b["y"] for b in dm.val_dataloader()])
    assert torch.equal(got, gen.generate(torch.arange(5) + 1_000_000_000)["y"])


def test_train_py_trains_from_a_folder_plain_generate_wrote(train_only, tmp_path):
    """Issue 13 item 3: `python generate.py && python train.py data=parquet data.path=...`."""
    _, folder = train_only
    res = run_train(
        "data=parquet",
        f"data.path={folder}",
        "device=cpu",
        "model.input_size=256",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "metrics.json").read_text())


def test_train_py_on_wrong_column_types_says_one_line(tmp_path):
    """Issue 15 item 10: data=parquet with wrong column types was an ArrowNotImplementedError/TypeError."""
    folder = tmp_path / "bad"
    folder.mkdir()
    rows = 4
    pq.write_table(
        pa.table({"x": pa.array([["a"] * 3] * rows), "y": pa.array([[0.5] * 11] * rows)}),
        folder / "train-00000.parquet",
    )
    res = run_train("data=parquet", f"data.path={folder}", "logger=none", f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "train-00000.parquet: column 'x' of a RandomAnomaly file has type list<element: string>" in errors[0]


# -- predict -------------------------------------------------------------------------------------------
class _SlotReader(L.LightningModule):
    """Predicts each row's anomaly slot straight from its labels, so the output is known."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Linear(1, 1)

    def predict_step(self, batch, batch_idx):
        return batch["y"][:, -1]


def test_trainer_predict_reads_the_predict_split_in_order(train_only):
    """Issue 13 item 4: Trainer.predict on parquet data failed (no loader, KeyError 0)."""
    gen, folder = train_only
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False, accelerator="cpu")
    dm = ParquetDataModule(folder, batch_size=3)
    got = torch.cat(trainer.predict(_SlotReader(), datamodule=dm))
    assert torch.equal(got, gen.generate(torch.arange(36, 40))["y"][:, -1])  # the held-out test rows
    whole = ParquetDataModule(folder, batch_size=7, predict_split="train")
    got = torch.cat(trainer.predict(_SlotReader(), datamodule=whole))
    assert torch.equal(got, gen.generate(torch.arange(40))["y"][:, -1])


def test_dataloaders_over_the_dataset(train_only):
    gen, folder = train_only
    ds = ParquetDataset(folder, "train")
    with pytest.raises(TypeError, match="collate_fn=anomaly_lab.loading.indexed.passthrough_collate"):
        next(iter(DataLoader(ds, batch_size=4)))  # torch's default collate: was a bare KeyError: 0
    want = gen.generate(torch.arange(40))["y"]
    got = torch.cat([b["y"] for b in parquet_loader(ds, batch_size=6)])
    assert torch.equal(got, want)
    shuffled = torch.cat([b["y"] for b in parquet_loader(ds, batch_size=6, shuffle=True, seed=1)])
    assert not torch.equal(shuffled, want) and sorted(map(tuple, shuffled.tolist())) == sorted(
        map(tuple, want.tolist())
    )
    assert torch.equal(ds[[3, 1]]["y"], want[[3, 1]]) and torch.equal(ds[2:5]["y"], want[2:5])
    assert torch.equal(ds[7]["y"], want[7])
    view = RowRange(ds, 10, 30)
    assert view.group_bounds.tolist() == [0, 6, 14, 20]  # row groups of 8: boundaries 16 and 24 -> 6 and 14


def test_a_single_file_is_the_train_split_with_val_and_test_held_out(train_only):
    """A file path used to serve the same rows as train, validation and test."""
    gen, folder = train_only
    dm = ParquetDataModule(os.path.join(folder, "train-00000.parquet"), batch_size=4)
    dm.setup()
    assert [len(dm.datasets[k]) for k in ("train", "val", "test")] == [12, 2, 2]  # 16 rows, 10% = 2 each
    val = torch.cat([b["y"] for b in dm.val_dataloader()])
    assert torch.equal(val, gen.generate(torch.arange(12, 14))["y"])
