"""Every config of every group composes and instantiates (lightning-hydra-template's check)."""

import os

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")


def options(group):
    return sorted(f[:-5] for f in os.listdir(os.path.join(CONF, group)) if f.endswith(".yaml"))


def compose_train(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=["device=cpu", "paths.output_dir=/tmp/anomaly_lab_cfg_test", *overrides])


@pytest.mark.parametrize("option", options("model"))
def test_every_model_config_instantiates(option):
    cfg = compose_train(f"model={option}")
    model = instantiate(cfg.model)
    n = model.trainable_weights() if hasattr(model, "trainable_weights") else None
    if option.endswith("_1m"):
        assert 0.95e6 < n < 1.05e6
    elif option in ("sparse_rnn", "dense_rnn", "lstm", "gru", "rnn"):
        assert 0.95e5 < n < 1.15e5


@pytest.mark.parametrize("option", options("data"))
def test_every_data_config_instantiates(option):
    cfg = compose_train(f"data={option}")
    dm = instantiate(cfg.data)
    assert hasattr(dm, "train_dataloader")


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks"])
def test_every_trainer_logger_callback_config_instantiates(group):
    import torch

    for option in options(group):
        if option == "gpu" and not torch.cuda.is_available():
            continue  # run.py refuses it with a ConfigError (tests/test_train.py)
        cfg = compose_train(f"{group}={option}")
        node = cfg[group]
        if group == "trainer":
            trainer = instantiate(node, accelerator="cpu") if node.accelerator == "auto" else instantiate(node)
            assert trainer is not None
        else:
            for sub in node.values():
                if isinstance(sub, DictConfig) and "_target_" in sub:
                    assert instantiate(sub) is not None


@pytest.mark.parametrize("option", options("experiment"))
def test_every_experiment_composes(option):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={option}"], return_hydra_config=True)
    assert cfg.task_name
    if option.startswith("paper"):
        assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
        assert "model" in cfg.hydra.sweeper.params


def test_generate_config_and_preset_compose():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("generate", overrides=["preset=random_anomaly_paper"])
    assert [s["size"] for s in cfg.export.splits] == [58000, 1000, 1000]
    assert cfg.export.compression == "gzip" and cfg.export.layout == "published"
