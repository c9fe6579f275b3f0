"""The one task base: injected optimizer and scheduler, the finite-loss check, epoch collection
gathered over ranks, predict_step, and the model/data check before training."""

from __future__ import annotations

import functools
import os
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.models.recurrent.lightning_model import RecurrentModule
from anomaly_lab.tasks.base import NonFiniteLossError, _gather_ranks, check_pair
from tests import forkrun
from tests.conftest import REPO_ROOT

CONF = os.path.join(REPO_ROOT, "conf")


def small_model(**kw):
    return RecurrentModule(cell="gru", input_size=64, output_size=4, hidden=8, **kw)


def test_default_optimizer_is_adam_with_the_task_settings():
    opt = small_model(lr=3e-3, weight_decay=1e-4).configure_optimizers()
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 3e-3 and opt.defaults["weight_decay"] == 1e-4 and opt.defaults["eps"] == 1e-8


def test_injected_partial_optimizer_and_scheduler():
    model = small_model(
        optimizer=functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9),
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3),
    )
    conf = model.configure_optimizers()
    assert isinstance(conf["optimizer"], torch.optim.SGD) and conf["optimizer"].defaults["momentum"] == 0.9
    assert isinstance(conf["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert conf["lr_scheduler"]["monitor"] == "val/loss"
    params = {id(p) for group in conf["optimizer"].param_groups for p in group["params"]}
    assert params == {id(p) for p in model.parameters()}
    with pytest.raises(ConfigError, match="must be a partial optimizer"):
        small_model(optimizer="adam")


def test_optimizer_from_a_hydra_partial_node():
    # the model configs carry an Adam partial built from model.lr; a command line swaps the class
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model=gru", "model.optimizer._target_=torch.optim.AdamW", "model.lr=0.01"])
    model = instantiate(cfg.model)
    opt = model.configure_optimizers()
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["lr"] == 0.01
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model.lr=0.02"])
    opt = instantiate(cfg.model).configure_optimizers()
    assert type(opt) is torch.optim.Adam and opt.defaults["lr"] == 0.02


def test_non_finite_training_loss_is_a_user_error():
    model = small_model()
    model.step = lambda batch, stage: torch.tensor(float("nan"))
    with pytest.raises(NonFiniteLossError, match="training loss became nan at step 0"):
        model.training_step({}, 0)


def test_collect_keeps_only_eval_stages_and_concatenates():
    model = small_model()
    model.collect("train", pred=torch.ones(3))
    model.collect("val", {"index": torch.tensor([4, 5])}, pred=torch.tensor([1, 2]), skipped=None)
    model.collect("val", {"index": torch.tensor([6])}, pred=torch.tensor([3]))
    got = model.gathered("val")
    assert torch.equal(got["pred"], torch.tensor([1, 2, 3])) and torch.equal(got["index"], torch.tensor([4, 5, 6]))
    assert "skipped" not in got and model.gathered("train") == {}
    model.on_validation_epoch_start()
    assert model.gathered("val") == {}


class FakeRanks:
    """Two ranks' all_gather: rank 0 holds rows for indices 0..2, rank 1 for 3, 4 and a repeat of 0
    (a distributed sampler pads the last rank so every rank has as many rows)."""

    device = torch.device("cpu")

    def __init__(self, other: dict):
        self.other = other

    def all_gather(self, tensor):
        key = "n" if tensor.dim() == 1 and tensor.numel() == 1 else ("index" if tensor.dtype == torch.int64 else "v")
        mine = tensor
        theirs = self.other[key]
        if key != "n":
            theirs = torch.cat([theirs, torch.zeros((len(mine) - len(theirs), *theirs.shape[1:]), dtype=theirs.dtype)])
        return torch.stack([mine, theirs])


def test_gather_over_ranks_orders_by_index_and_drops_padding_repeats():
    local = {"index": torch.tensor([0, 1, 2]), "v": torch.tensor([0.0, 10.0, 20.0])}
    other = {"n": torch.tensor([3]), "index": torch.tensor([3, 4, 0]), "v": torch.tensor([30.0, 40.0, 0.0])}
    out = _gather_ranks(FakeRanks(other), local)
    assert out["index"].tolist() == [0, 1, 2, 3, 4] and out["v"].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]


def test_predict_step_gives_scores_preds_and_index():
    model = small_model().eval()
    gen = RandomAnomalyGenerator(seq_len=3, image_size=8, seed=0, device="cpu")
    batch = gen.generate(torch.arange(5))
    batch["index"] = torch.arange(5)
    out = model.predict_step(batch, 0)
    assert out["scores"].shape == (5, 4) and torch.allclose(out["scores"].sum(1), torch.ones(5))
    assert torch.equal(out["preds"], out["scores"].argmax(1)) and torch.equal(out["index"], torch.arange(5))


@pytest.mark.parametrize(
    ("generator", "model", "message"),
    [
        ({"seq_len": 4, "image_size": 8}, {}, None),
        ({"seq_len": 4, "image_size": 9}, {}, r"frames have 81 values .* model.input_size=64; set model.input_size=81"),
        ({"seq_len": 6, "image_size": 8}, {}, r"slot takes 6 values, but model.output_size=4; set model.output_size=6"),
        ({"seq_len": 4, "image_size": 8, "anomaly_prob": 0.9}, {}, r"some without an anomaly.*takes 5 values"),
        ({"seq_len": 3, "image_size": 8}, {}, r"takes 3 values, but model.output_size=4"),
    ],
)
def test_check_pair_names_both_sides(generator, model, message):
    dm = GeneratorDataModule(
        RandomAnomalyGenerator(seed=0, device="cpu", **generator), train_size=4, val_size=4, test_size=4
    )
    if message is None:
        check_pair(small_model(**model), dm)
        return
    with pytest.raises(ConfigError, match=message):
        check_pair(small_model(**model), dm)


def test_check_pair_refuses_what_is_not_a_task():
    dm = GeneratorDataModule(RandomAnomalyGenerator(seed=0, device="cpu"), train_size=4, val_size=4, test_size=4)
    with pytest.raises(ConfigError, match="neither a Task nor an EstimatorTask"):
        check_pair(torch.nn.Linear(2, 2), dm)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=lstm_vae"], "model=LSTMVAEDetector reads timeseries batches"),
        (["data.generator.image_size=28"], "frames have 784 values"),
    ],
)
def test_train_py_stops_a_mismatched_pair_with_one_line(overrides, message, tmp_path):
    res = forkrun.run(
        [sys.executable, "train.py", *overrides, "device=cpu", "logger=none", f"hydra.run.dir={tmp_path}/run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in res.stderr
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
