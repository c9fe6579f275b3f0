"""The body of ``train.py``: compose-time config in, fitted and tested model and metrics out."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.tasks.base import Task, check_pair
from anomaly_lab.tasks.estimator import EstimatorTask


def _instantiate_group(group: DictConfig | None) -> list[Any]:
    from hydra.utils import instantiate

    if not group:
        return []
    return [instantiate(node) for node in group.values() if isinstance(node, DictConfig) and "_target_" in node]


def _wandb_offline_if_needed(cfg: DictConfig) -> None:
    if not cfg.get("logger") or "wandb" not in cfg.logger:
        return
    has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc"))
    if not has_key:
        os.environ["WANDB_MODE"] = "offline"


def _hydra_info() -> tuple[dict, dict, str | None]:
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except ValueError:
        return {}, {}, None
    overrides = {}
    for o in hc.overrides.task:
        key, _, value = o.partition("=")
        overrides[key] = value
    choices = {k: v for k, v in OmegaConf.to_container(hc.runtime.choices).items() if not k.startswith("hydra/")}
    return overrides, choices, hc.runtime.output_dir


def count_params(model: Task | EstimatorTask) -> int:
    return int(model.trainable_weights())


def summary_table(metrics: dict) -> str:
    keys = [k for k in metrics if isinstance(metrics[k], (int, float))]
    width = max(len(k) for k in keys) if keys else 10
    lines = ["-" * (width + 16)]
    for k in keys:
        v = metrics[k]
        lines.append(f"{k:<{width}}  {v:>12.4f}" if isinstance(v, float) else f"{k:<{width}}  {v:>12}")
    lines.append("-" * (width + 16))
    return "\n".join(lines)


def train(cfg: DictConfig) -> dict:
    """Instantiate data, model, trainer, loggers and callbacks from ``cfg``; fit, test, and write
    ``metrics.json`` into the run directory. Returns the metrics."""
    import lightning as L
    from hydra.utils import instantiate

    t0 = time.perf_counter()
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    device = resolve_device(cfg.device)
    if cfg.get("ckpt_path") and not os.path.isfile(str(cfg.ckpt_path)):
        raise DataFileError(
            f"ckpt_path={cfg.ckpt_path!r} does not exist; point it at a .ckpt file (e.g. <run>/checkpoints/last.ckpt)"
        )
    overrides, choices, hydra_dir = _hydra_info()
    out_dir = str(cfg.get("paths", {}).get("output_dir") or hydra_dir or ".")
    os.makedirs(out_dir, exist_ok=True)
    _wandb_offline_if_needed(cfg)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    metrics: dict[str, Any] = {}
    check_pair(model, datamodule)
    if isinstance(model, EstimatorTask):  # scikit-learn models: fitted in one pass, no trainer
        metrics.update(model.fit_datamodule(datamodule, out_dir=out_dir))
        is_zero = True
    else:
        callbacks = _instantiate_group(cfg.get("callbacks"))
        loggers = _instantiate_group(cfg.get("logger"))
        trainer_kw: dict[str, Any] = {"callbacks": callbacks, "logger": loggers or False}
        accelerator = cfg.trainer.get("accelerator", "auto")
        if accelerator == "auto":
            trainer_kw["accelerator"] = "gpu" if device.type == "cuda" else "cpu"
        elif accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator!r} but no CUDA device is available; "
                "use trainer=default or trainer=cpu"
            )
        trainer = instantiate(cfg.trainer, **trainer_kw)
        for lg in loggers:
            if hasattr(lg, "log_hyperparams"):
                lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
        if cfg.get("test", True):
            has_best = any(getattr(c, "best_model_path", "") for c in callbacks)
            trainer.test(model, datamodule=datamodule, ckpt_path="best" if has_best else None, weights_only=False)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        metrics["epochs"] = int(trainer.current_epoch)
        metrics["steps"] = int(trainer.global_step)
        is_zero = trainer.is_global_zero
    metrics["params"] = count_params(model)
    metrics["wall_s"] = round(time.perf_counter() - t0, 2)
    record = {**metrics, "seed": int(cfg.seed), "device": str(device), "overrides": overrides, "choices": choices}
    if is_zero:
        with open(os.path.join(out_dir, "metrics.json"), "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
        print(summary_table(metrics), file=sys.stderr)
        print(f"run directory: {os.path.abspath(out_dir)} (metrics.json, checkpoints/, pictures)", file=sys.stderr)
    if cfg.get("logger") and "wandb" in cfg.logger:
        import wandb

        if wandb.run is not None:
            wandb.run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
            wandb.finish()
    return metrics
