import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HYDRA_FULL_ERROR", "0")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope="session")
def mnist_train():
    from anomaly_lab.sources import load_source

    return load_source("bundled", split="train")


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
