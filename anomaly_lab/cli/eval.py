"""The body of ``eval.py``: score a finished run's checkpoint on its test split, and optionally write
per-sample predictions.

The run's own saved config (``<run>/.hydra/config.yaml``, beside ``<run>/checkpoints/``) is the
base: the data, model and trainer are exactly those the run trained with, and so are its seed and
device. On top of it go what the eval command line changes: a group switch (``data=parquet``)
takes eval's composed node for that group, a dotted key (``data.batch_size=8``) changes that key
of the saved node. Eval's own keys (``task_name``, ``tags``, ``paths``, ``logger``, ``extras``,
``predict``) come from ``conf/eval.yaml``. The entry script first adds the run's group choices to
the command line, so Hydra composes (and checks the keys of) the same groups the run used.

Trust: Lightning checkpoints are read with ``weights_only=True`` (see ``cli/train.py``); the
scikit-learn estimator of a ``fit_datamodule`` model is read from ``<run>/model.skops`` by
``skops.io.load`` trusting only the types in :data:`TRUSTED_SKOPS_TYPES`, never all of them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from anomaly_lab.core.errors import ConfigError, DataFileError, check_range
from anomaly_lab.tasks.base import check_pair
from anomaly_lab.tasks.estimator import EstimatorTask

#: the config groups a run's saved config supplies (and the entry script pre-selects)
RUN_GROUPS = ("data", "model", "trainer")
#: keys of conf/eval.yaml that are eval's own, not taken from the run
EVAL_KEYS = ("task_name", "tags", "ckpt_path", "predict", "test", "extras", "paths", "logger")

#: the only types a ``model.skops`` may contain beyond skops' defaults (numpy arrays, builtins):
#: a fitted random forest is these three classes
TRUSTED_SKOPS_TYPES = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
)


# -- finding the run ------------------------------------------------------------------------------------------
def run_dir_of(ckpt_path: str) -> str:
    """``<run>/checkpoints/x.ckpt`` -> ``<run>``; a checkpoint elsewhere -> its own folder."""
    folder = os.path.dirname(os.path.abspath(ckpt_path))
    return os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else folder


def _ckpt_from_argv(argv: list[str]) -> str | None:
    for arg in argv:
        if arg.startswith("ckpt_path="):
            return arg.partition("=")[2].strip("'\"") or None
    return None


def run_choices(ckpt_path: str | None) -> list[str]:
    """``group=option`` for each of the run's :data:`RUN_GROUPS`, from ``<run>/.hydra/hydra.yaml``
    (nothing when there is no such file: the body then says what is missing)."""
    if not ckpt_path:
        return []
    hydra_yaml = os.path.join(run_dir_of(ckpt_path), ".hydra", "hydra.yaml")
    if not os.path.isfile(hydra_yaml):
        return []
    try:
        choices = OmegaConf.load(hydra_yaml).hydra.runtime.choices
    except Exception:
        return []
    return [f"{g}={choices[g]}" for g in RUN_GROUPS if g in choices and choices[g]]


def run_choice_overrides(argv: list[str]) -> list[str]:
    """The run's group choices that the command line does not choose itself (the entry script puts
    them first on the command line)."""
    given = {a.lstrip("+~").partition("=")[0] for a in argv}
    return [c for c in run_choices(_ckpt_from_argv(argv)) if c.partition("=")[0] not in given]


def load_run_config(ckpt_path: str) -> DictConfig:
    run_dir = run_dir_of(ckpt_path)
    path = os.path.join(run_dir, ".hydra", "config.yaml")
    if not os.path.isfile(path):
        raise DataFileError(
            f"ckpt_path={ckpt_path!r}: no {path!r} beside it; eval.py needs the run directory train.py "
            "wrote (<run>/checkpoints/<name>.ckpt with <run>/.hydra/config.yaml)"
        )
    try:
        saved = OmegaConf.load(path)
    except Exception as exc:
        raise DataFileError(f"{path!r} is not a readable config ({type(exc).__name__})") from None
    if not isinstance(saved, DictConfig) or not all(g in saved for g in ("data", "model")):
        raise DataFileError(f"{path!r} has no data and model sections; is it a train.py run's config?")
    return saved


def _user_overrides(hydra_overrides: list[str], injected: list[str]) -> list[str]:
    return [o for o in hydra_overrides if o not in injected]


def merge_run_config(saved: DictConfig, eval_cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The config eval runs: ``saved`` with the command line's changes and eval's own keys."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    merged = OmegaConf.create(OmegaConf.to_container(saved, resolve=False))
    parsed = OverridesParser.create().parse_overrides(overrides)
    switched = {o.key_or_group for o in parsed if o.key_or_group in RUN_GROUPS and o.package is None}
    for group in switched:
        merged[group] = eval_cfg[group]
    for o in parsed:
        key = o.key_or_group
        head = key.split(".")[0]
        if head in switched or head in EVAL_KEYS or head == "hydra" or key in RUN_GROUPS:
            continue
        if o.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(merged, parent) if parent else merged
            if isinstance(node, DictConfig) and leaf in node:
                del node[leaf]
            continue
        OmegaConf.update(merged, key, OmegaConf.select(eval_cfg, key), merge=False, force_add=True)
    for key in EVAL_KEYS:
        if key in eval_cfg:
            merged[key] = eval_cfg[key]
    for key in ("callbacks", "hparams_search", "optimized_metric"):
        merged.pop(key, None)
    merged["train"] = False
    return merged


# -- scikit-learn models ---------------------------------------------------------------------------------------
def load_sklearn_estimator(path: str):
    """``skops.io.load`` with exactly the trusted types above; a file asking for others is refused."""
    import skops.io

    if not os.path.isfile(path):
        raise DataFileError(f"{path!r} does not exist; the run saved no model (train.py writes <run>/model.skops)")
    try:
        asked = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise DataFileError(f"{path!r} is not a skops file ({type(exc).__name__})") from None
    foreign = sorted(set(asked) - set(TRUSTED_SKOPS_TYPES))
    if foreign:
        raise DataFileError(
            f"{path!r} contains types eval.py does not trust: {foreign}; only a fitted random forest is loaded"
        )
    return skops.io.load(path, trusted=list(TRUSTED_SKOPS_TYPES))


def _sklearn_eval(model, datamodule, run_dir: str, out_dir: str, cfg: DictConfig) -> tuple[dict, dict | None]:
    model.forest = load_sklearn_estimator(os.path.join(run_dir, "model.skops"))
    model.n_params = int(sum(est.tree_.node_count for est in model.forest.estimators_))
    datamodule.setup("test")
    metrics: dict[str, Any] = {}
    if cfg.get("test", True):
        feats, target = [], []
        for batch in datamodule.test_dataloader():
            feats.append(model.featurise(batch))
            target.append(model.target(batch))
        import numpy as np

        scores, _ = model.score(np.concatenate(feats), np.concatenate(target))
        metrics.update({f"test/{k}": v for k, v in scores.items()})
    columns = None
    if cfg.get("predict"):
        rows, seen = [], 0
        for batch in _predict_loader(datamodule):
            proba = torch.from_numpy(model.probabilities(model.featurise(batch)))
            index = batch["index"] if "index" in batch else torch.arange(seen, seen + len(proba))  # row position
            seen += len(proba)
            rows.append({"index": index, "scores": proba, "preds": proba.argmax(1)})
        columns = _concat_outputs(rows)
    return metrics, columns


# -- predictions -----------------------------------------------------------------------------------------------
def _predict_loader(datamodule):
    """The datamodule's predict loader when it has one, else its test loader."""
    import lightning as L
    from lightning.pytorch.utilities.model_helpers import is_overridden

    if is_overridden("predict_dataloader", datamodule, L.LightningDataModule):
        datamodule.setup("predict")
        return datamodule.predict_dataloader()
    datamodule.setup("test")
    return datamodule.test_dataloader()


def _concat_outputs(outputs: list) -> dict[str, torch.Tensor]:
    """``predict_step`` outputs (one dict a batch, tensors with the batch first) -> one tensor a key."""
    if not outputs:
        raise ConfigError("predict=true: the data gave no batches to predict")
    if not all(isinstance(o, dict) for o in outputs):
        raise ConfigError(
            f"predict=true: the model's predict_step returned {type(outputs[0]).__name__}, "
            "not a dict with per-sample 'scores', 'preds' and 'index'"
        )
    missing = [k for k in ("scores", "preds") if k not in outputs[0]]
    if missing:
        raise ConfigError(f"predict=true: the model's predict_step output has no {missing}")
    seen = 0
    for o in outputs:  # files without an index column (the published layout): the row position
        rows = len(o["preds"])
        o.setdefault("index", torch.arange(seen, seen + rows))
        seen += rows
    columns = {}
    for key, first in outputs[0].items():
        if not (torch.is_tensor(first) or isinstance(first, (list, tuple))):
            continue  # not a per-sample array (e.g. a name): not a column
        parts = [torch.as_tensor(o[key]).detach().cpu().reshape(len(o["index"]), -1) for o in outputs]
        columns[key] = torch.cat(parts)
    return columns


def write_predictions(columns: dict[str, torch.Tensor], path: str) -> int:
    """One row a sample: ``index`` first, then each output; a one-value output is a column of
    numbers, a wider one a fixed-size list (e.g. class probabilities)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, names = [], []
    for key in ["index", *sorted(k for k in columns if k != "index")]:
        values = columns[key].numpy()
        if values.shape[1] == 1:
            arrays.append(pa.array(values[:, 0]))
        else:
            flat = pa.array(values.reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, values.shape[1]))
        names.append(key)
    table = pa.Table.from_arrays(arrays, names=names)
    tmp = path + ".tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return table.num_rows


# -- the run ---------------------------------------------------------------------------------------------------
def evaluate(cfg: DictConfig, overrides: list[str] | None = None) -> dict:
    """Test ``cfg.ckpt_path`` with its run's saved config (changed by ``overrides``, the command
    line's ``key=value`` list) and write ``metrics.json`` (and ``predictions.parquet`` with
    ``predict=true``) into eval's run directory. Returns the metrics."""
    import lightning as L
    from hydra.utils import instantiate

    from anomaly_lab.cli.train import (
        _hydra_config,
        _lightning_user_error,
        apply_extras,
        check_checkpoint_fits,
        lightning_logs_once,
        read_checkpoint,
        summary_table,
    )
    from anomaly_lab.core.device import resolve_device

    lightning_logs_once()
    t0 = time.perf_counter()
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError("ckpt_path is required: python eval.py ckpt_path=<run>/checkpoints/best.ckpt")
    # eval builds the trainer without the run's callbacks on purpose; Lightning's note about it is noise
    import warnings

    warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`")
    ckpt_path = str(cfg.ckpt_path)
    run_dir = run_dir_of(ckpt_path)
    saved = load_run_config(ckpt_path)
    hc = _hydra_config()
    if overrides is None:
        task = list(hc.overrides.task) if hc is not None else []
        overrides = _user_overrides(task, run_choices(ckpt_path))
    run_cfg = merge_run_config(saved, cfg, overrides)
    if hc is not None and not run_cfg.paths.get("output_dir"):
        run_cfg.paths.output_dir = hc.runtime.output_dir
    out_dir = str(run_cfg.paths.output_dir)
    os.makedirs(out_dir, exist_ok=True)
    apply_extras(run_cfg)
    # Lightning seeds numpy too, which takes 32 bits (it would pick a random seed past that)
    check_range("seed", run_cfg.seed, 0, 2**32 - 1, integer=True)
    L.seed_everything(int(run_cfg.seed), workers=True, verbose=False)
    device = resolve_device(run_cfg.get("device", "auto"))

    datamodule = instantiate(run_cfg.data)
    model = instantiate(run_cfg.model)
    columns = None
    if isinstance(model, EstimatorTask):  # scikit-learn models: the estimator was saved by train.py
        check_pair(model, datamodule)
        metrics, columns = _sklearn_eval(model, datamodule, run_dir, out_dir, run_cfg)
    else:
        from anomaly_lab.cli.train import _instantiate_group

        # the checkpoint against the model first (what the user named), then the model against the data
        check_checkpoint_fits(read_checkpoint(ckpt_path), model, ckpt_path)
        check_pair(model, datamodule)

        loggers = _instantiate_group(run_cfg.get("logger"))
        kw: dict[str, Any] = {"callbacks": [], "logger": loggers or False}
        if run_cfg.trainer.get("accelerator", "auto") == "auto":
            kw["accelerator"] = "gpu" if device.type == "cuda" else "cpu"
        try:
            trainer = instantiate(run_cfg.trainer, **kw)
            metrics = {}
            if run_cfg.get("test", True):
                trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
                metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
            if run_cfg.get("predict"):
                from lightning.pytorch.utilities.model_helpers import is_overridden

                if not is_overridden("predict_step", model, L.LightningModule):
                    raise ConfigError(
                        f"predict=true: {type(model).__name__} has no predict_step returning per-sample scores"
                    )
                outputs = trainer.predict(
                    model, dataloaders=_predict_loader(datamodule), ckpt_path=ckpt_path, weights_only=True
                )
                columns = _concat_outputs(outputs)
        except Exception as exc:
            err = _lightning_user_error(exc)
            if err is None:
                raise
            raise err from None
    if columns is not None:
        pred_path = os.path.join(out_dir, "predictions.parquet")
        metrics["predict_rows"] = write_predictions(columns, pred_path)
        print(f"predictions: {pred_path}", file=sys.stderr)
    metrics["wall_s"] = round(time.perf_counter() - t0, 2)
    record = {
        **metrics,
        "ckpt_path": os.path.abspath(ckpt_path),
        "run_dir": run_dir,
        "seed": int(run_cfg.seed),
        "device": str(device),
        "overrides": dict(o.partition("=")[::2] for o in overrides),
        "tags": list(run_cfg.get("tags") or []),
    }
    with open(os.path.join(out_dir, "metrics.json"), "w") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
    print(summary_table(metrics), file=sys.stderr)
    print(f"eval directory: {os.path.abspath(out_dir)}", file=sys.stderr)
    return metrics
