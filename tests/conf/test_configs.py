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


@pytest.mark.parametrize("group", ["debug", "extras", "hparams_search"])
def test_every_debug_extras_and_search_config_composes(group):
    for option in options(group):
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfg = compose("train", overrides=[f"{group}={option}"], return_hydra_config=True)
        if group == "debug":
            assert cfg.task_name == "debug" and cfg.trainer.accelerator == "cpu" and "csv" not in (cfg.logger or {})
        if group == "hparams_search":
            assert str(cfg.hydra.mode) == "RunMode.MULTIRUN" and cfg.optimized_metric
            assert "OptunaSweeper" in cfg.hydra.sweeper._target_ and cfg.hydra.sweeper.params


def test_template_keys_compose():
    """`tags`, `train`, `test`, `extras` and `debug` exist (they were "not in struct" before)."""
    cfg = compose_train("tags=[dev,x]", "train=false", "test=false", "debug=fast", "extras.print_config=false")
    assert list(cfg.tags) == ["dev", "x"]  # the command line's keys win over debug's own tags
    assert cfg.train is False and cfg.test is False and cfg.trainer.fast_dev_run is True
    cfg = compose_train("debug=fast")
    assert list(cfg.tags) == ["debug"] and not cfg.extras.enforce_tags and not cfg.logger
    cfg = compose_train()
    assert list(cfg.tags) == ["dev"] and cfg.extras.enforce_tags and cfg.logger.csv and cfg.train and cfg.test


def test_local_default_is_optional_and_composed_when_present(tmp_path):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    local = conf / "local" / "default.yaml"
    if local.exists():
        local.unlink()  # a developer's own file must not change the test
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        assert compose("train").seed == 0
    local.write_text("# @package _global_\nseed: 42\ntrainer:\n  max_epochs: 2\n")
    for name in ("train", "eval"):
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(name, overrides=["ckpt_path=x"] if name == "eval" else [])
        assert cfg.seed == 42 and cfg.trainer.max_epochs == 2


def test_eval_config_composes():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            "eval", overrides=["ckpt_path=x.ckpt", "data=parquet", "data.path=/tmp/d"], return_hydra_config=True
        )
    assert cfg.task_name == "eval" and cfg.predict is False and cfg.data.path == "/tmp/d"
    assert cfg.hydra.help.app_name == "eval.py" and not cfg.logger


def test_wandb_logger_names_left_to_train_py():
    cfg = compose_train("logger=wandb", "tags=[a]")
    assert cfg.logger.wandb.name is None and cfg.logger.wandb.group is None and list(cfg.logger.wandb.tags) == ["a"]
