import torch

from anomaly_lab.io.writer import Exporter, ExportOptions
from anomaly_lab.loading.parquet import ParquetDataModule
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator


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
