import torch

from anomaly_lab.loading.stored import StoredDataModule


class _Rows:
    def __init__(self, n, device="cpu"):
        self.n, self.device = n, torch.device(device)

    def __len__(self):
        return self.n

    def __getitems__(self, items):
        return {"index": torch.as_tensor(list(items))}


class _Module(StoredDataModule):
    def __init__(self, seed, device="cpu", num_workers=2):
        super().__init__()
        self.seed, self.batch_size, self.num_workers = seed, 4, num_workers
        self.datasets = {"train": _Rows(20, device), "val": _Rows(6, device), "test": _Rows(6, device)}


def _order(loader):
    return torch.cat([b["index"] for b in loader]).tolist()


def test_training_order_is_a_seeded_shuffle_and_eval_order_is_fixed():
    a = _Module(seed=3, num_workers=0)
    first, again = _order(a.train_dataloader()), _order(a.train_dataloader())
    assert sorted(first) == list(range(20)) and first == again and first != list(range(20))
    assert _order(_Module(seed=4, num_workers=0).train_dataloader()) != first
    assert _order(a.val_dataloader()) == list(range(6)) and _order(a.test_dataloader()) == list(range(6))


def test_cuda_datasets_are_read_in_the_main_process():
    assert _Module(seed=0, device="cuda").train_dataloader().num_workers == 0
    assert _Module(seed=0, device="cpu").train_dataloader().num_workers == 2


def test_predict_reads_the_test_split_in_order_unless_a_predict_split_is_set():
    a = _Module(seed=3, num_workers=0)
    assert _order(a.predict_dataloader()) == list(range(6))
    a.datasets["predict"] = _Rows(9)
    assert _order(a.predict_dataloader()) == list(range(9))
