"""The body of ``train.py``: compose-time config in, fitted and tested model and metrics out.

What a run trusts (docs/training.md, "What a run loads"): every checkpoint is read with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects, and is checked for the
shape of a Lightning checkpoint before Lightning sees it. The test split is scored from the best
checkpoint only when this process wrote that file, inside its own run directory; a best path
restored from a resumed checkpoint's callback state is never followed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
import warnings
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from anomaly_lab.core.device import resolve_device
from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range
from anomaly_lab.tasks.base import Task, check_pair
from anomaly_lab.tasks.estimator import EstimatorTask

log = logging.getLogger(__name__)

#: exit status of a run stopped by SIGTERM (128 + signal number, what a shell and schedulers expect)
SIGTERM_EXIT = 128 + int(signal.SIGTERM)


def _instantiate_group(group: DictConfig | None, extra: dict[str, dict] | None = None) -> list[Any]:
    """Instantiate each ``_target_`` node of a config group; ``extra[name]`` adds keyword arguments."""
    from hydra.utils import instantiate

    if not group:
        return []
    extra = extra or {}
    return [
        instantiate(node, **extra.get(name, {}))
        for name, node in group.items()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def _wandb_offline_if_needed(cfg: DictConfig) -> None:
    if not cfg.get("logger") or "wandb" not in cfg.logger:
        return
    has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc"))
    if not has_key:
        os.environ["WANDB_MODE"] = "offline"


def _hydra_config():
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except ValueError:
        return None


def _hydra_info() -> tuple[dict, dict, str | None]:
    hc = _hydra_config()
    if hc is None:
        return {}, {}, None
    overrides = {}
    for o in hc.overrides.task:
        key, _, value = o.partition("=")
        overrides[key] = value
    choices = {k: v for k, v in OmegaConf.to_container(hc.runtime.choices).items() if not k.startswith("hydra/")}
    return overrides, choices, hc.runtime.output_dir


def wandb_run_names(task_name: str, hydra_cfg=None) -> dict[str, str]:
    """Name and group for a WandbLogger left at ``name: null`` / ``group: null``.

    In a multirun each job is named after its own overrides (``model=lstm,seed=1``, Hydra's
    ``job.override_dirname``) and grouped by its sweep (``<task>/<sweep dir name>``), so the jobs of
    one sweep sit together in the W&B UI and can be told apart; a single run is named ``task_name``.
    """
    if hydra_cfg is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
        return {"name": task_name}
    job = hydra_cfg.job
    name = str(job.override_dirname or "") or f"job{job.get('num', 0)}"
    sweep = os.path.basename(os.path.normpath(str(hydra_cfg.sweep.dir)))
    return {"name": name[:128], "group": f"{task_name}/{sweep}"[:128]}


def _wandb_kwargs(cfg: DictConfig) -> dict[str, dict]:
    """Keyword arguments for the wandb logger node: the names above where the config leaves them null."""
    node = (cfg.get("logger") or {}).get("wandb")
    if not isinstance(node, DictConfig):
        return {}
    names = wandb_run_names(str(cfg.get("task_name", "train")), _hydra_config())
    return {"wandb": {k: v for k, v in names.items() if node.get(k) is None}}


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


# -- checkpoints: what is loaded, and from where -------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    """A short reason for ``exc``: torch's weights-only refusals are paragraphs; keep the clause
    that says what was refused."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    found = re.search(r"Unsupported global: \S+(?: \S+)?", text)
    if found:
        return found.group(0).rstrip(".")
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if found:
        return found.group(1).strip()
    if not text:
        return "the file is empty or truncated" if isinstance(exc, EOFError) else type(exc).__name__
    return text.splitlines()[0][:200]


def read_checkpoint(path: str, key: str = "ckpt_path") -> dict:
    """Read a Lightning checkpoint with ``weights_only=True`` and check it looks like one.

    Anything else (a pickle that would build arbitrary objects, a truncated or foreign file, a
    dict without ``state_dict``) is a :class:`DataFileError` with one line: the unpickler is never
    asked to run code from a file this project did not write.
    """
    import pickle
    import zipfile

    if not os.path.isfile(path):
        raise DataFileError(
            f"{key}={path!r} does not exist; point it at a .ckpt file (e.g. <run>/checkpoints/last.ckpt)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on pickle protocols: the error below says more
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _first_line(exc)
        if reason.startswith("Unsupported global"):
            raise DataFileError(
                f"{key}={path!r} holds objects a weights-only load refuses ({reason}); "
                "checkpoints are loaded with tensors and plain containers only, never as arbitrary pickles"
            ) from None
        raise DataFileError(f"{key}={path!r} is not a PyTorch checkpoint ({reason})") from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, zipfile.BadZipFile, IndexError) as exc:
        raise DataFileError(
            f"{key}={path!r} is not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise DataFileError(
            f"{key}={path!r} is not a Lightning checkpoint (no state_dict); "
            "use <run>/checkpoints/last.ckpt or best.ckpt written by train.py"
        )
    return ckpt


def check_checkpoint_fits(ckpt: dict, model: torch.nn.Module, path: str, key: str = "ckpt_path") -> None:
    """Refuse, in one line, a checkpoint whose weights do not match the model's (names or shapes)."""
    saved = ckpt["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    wrong = [
        k for k in own if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        example = (wrong or missing or unexpected)[0]
        raise DataFileError(
            f"{key}={path!r} does not fit this model: {len(missing)} weights missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} of another shape (e.g. {example!r}); use the model and data config the run was trained with"
        )


def record_written_checkpoints(trainer) -> set[str]:
    """Wrap ``trainer.save_checkpoint`` so it records (as real paths) every file this process writes.

    ModelCheckpoint saves through ``trainer.save_checkpoint``; the set is what tells the best
    checkpoint of *this* run apart from a path restored out of a resumed checkpoint's state.
    """
    written: set[str] = set()
    save = trainer.save_checkpoint

    def save_and_record(filepath, *args, **kwargs):
        save(filepath, *args, **kwargs)
        written.add(os.path.realpath(str(filepath)))

    trainer.save_checkpoint = save_and_record
    return written


def own_best_checkpoint(callbacks: list, written: set[str], run_dir: str) -> str | None:
    """The best checkpoint path of a checkpoint callback, if this process wrote it inside ``run_dir``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    root = os.path.realpath(run_dir)
    for cb in callbacks:
        path = getattr(cb, "best_model_path", "") if isinstance(cb, ModelCheckpoint) else ""
        if not path:
            continue
        real = os.path.realpath(path)
        if real in written and real.startswith(root + os.sep) and os.path.isfile(real):
            return real
        log.warning(
            "not testing from best_model_path=%s: this run did not write it inside %s; testing the final weights",
            path,
            root,
        )
    return None


# -- callbacks train() adds itself ----------------------------------------------------------------------------
class MonitorCheck(L.Callback):
    """Stops with one line when ``monitor`` names a validation metric the model does not log.

    Checked at the end of the sanity validation (before the first training step) and, when that is
    switched off, at the end of the first validation, before ModelCheckpoint and EarlyStopping
    (Lightning runs checkpoint callbacks last) would fail on it with a traceback.
    """

    def __init__(self, monitor: str):
        self.monitor = monitor
        self.checked = False

    def _check(self, trainer) -> None:
        if self.checked or not self.monitor.startswith("val/"):
            return
        self.checked = True
        logged = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
        if logged and self.monitor not in trainer.callback_metrics:
            raise ConfigError(f"monitor={self.monitor!r} is not a metric this model logs; choose one of {logged}")

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check(trainer)


class CheckpointOnSigterm(L.Callback):
    """On SIGTERM while fitting, save a resumable checkpoint (model, optimiser, loops) to ``path``.

    Lightning turns SIGTERM into a ``SIGTERMException`` after the current batch; ``on_exception``
    runs before the trainer is torn down, so the state saved is that of a finished step.
    """

    def __init__(self, path: str):
        self.path = path
        self.saved: str | None = None

    def on_exception(self, trainer, pl_module, exception) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.path)
            self.saved = self.path


class ForgetForeignCheckpointPaths(L.Callback):
    """After a resume, drop checkpoint paths restored from the checkpoint that lie outside each
    ModelCheckpoint's own folder: the callback would otherwise report them as the best model, and
    delete them when a better one is saved (``save_top_k``)."""

    def on_train_start(self, trainer, pl_module) -> None:
        from lightning.pytorch.callbacks import ModelCheckpoint

        for cb in trainer.callbacks:
            if not isinstance(cb, ModelCheckpoint) or not cb.dirpath:
                continue
            root = os.path.realpath(str(cb.dirpath)) + os.sep

            def inside(path: str) -> bool:
                return bool(path) and os.path.realpath(str(path)).startswith(root)

            cb.best_k_models = {p: v for p, v in cb.best_k_models.items() if inside(p)}
            for attr in ("best_model_path", "kth_best_model_path", "last_model_path"):
                if getattr(cb, attr) and not inside(getattr(cb, attr)):
                    setattr(cb, attr, "")


# -- logging and extras -----------------------------------------------------------------------------------------
def lightning_logs_once() -> None:
    """Print each Lightning log line once.

    ``import lightning`` gives the ``lightning`` logger its own console handler *and* lets records
    propagate to the root; under Hydra the root has Hydra's job handlers (console and
    ``<run>/<job>.log``), so every line came out twice. With root handlers present, Lightning's own
    handler goes and Hydra's format (and log file) remain.
    """
    if not logging.getLogger().handlers:
        return
    lightning_logger = logging.getLogger("lightning")
    for handler in list(lightning_logger.handlers):
        if type(handler) is logging.StreamHandler:
            lightning_logger.removeHandler(handler)


def print_config_tree(cfg: DictConfig, stream=None) -> None:
    """The config as a tree, one branch per top-level key (rich when installed, plain YAML otherwise)."""
    stream = stream or sys.stdout
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation only Hydra's runtime can resolve: show it unresolved
        container = OmegaConf.to_container(cfg, resolve=False)
    try:
        import rich.syntax
        import rich.tree
        from rich.console import Console
    except ImportError:
        print(OmegaConf.to_yaml(OmegaConf.create(container)), file=stream)
        return
    tree = rich.tree.Tree("config", style="dim")
    for key, value in container.items():
        if isinstance(value, (dict, list)):
            text = OmegaConf.to_yaml(OmegaConf.create(value)).rstrip()
            tree.add(str(key)).add(rich.syntax.Syntax(text, "yaml", word_wrap=True))
        else:
            tree.add(f"{key}: {value}")
    Console(file=stream).print(tree)


def apply_extras(cfg: DictConfig) -> None:
    """``extras``: ignore warnings, warn when the run has no tags, print the config tree."""
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("enforce_tags", True) and not cfg.get("tags"):
        print(
            "warning: this run has no tags; label it with tags=[name,...] (they go to metrics.json and W&B)",
            file=sys.stderr,
        )
    if extras.get("print_config"):
        print_config_tree(cfg)


def _lightning_user_error(exc: BaseException) -> ConfigError | None:
    """Lightning's MisconfigurationException is a bad trainer or callback setting: one line."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if isinstance(exc, MisconfigurationException):
        return ConfigError(f"Lightning refused the configuration: {_first_line(exc)}")
    return None


def save_sklearn_model(model, out_dir: str) -> str | None:
    """Save a scikit-learn-style model's fitted estimator as ``<run>/model.skops`` (see eval.py for
    the load, which trusts only the types it lists)."""
    estimator = getattr(model, "forest", None)
    if estimator is None:
        return None
    import skops.io

    path = os.path.join(out_dir, "model.skops")
    skops.io.dump(estimator, path)
    return path


def train(cfg: DictConfig) -> dict:
    """Instantiate data, model, trainer, loggers and callbacks from ``cfg``; fit (``train``), test
    (``test``), and write ``metrics.json`` into the run directory. Returns the metrics.

    SIGTERM while fitting saves ``<run>/checkpoints/last.ckpt``, writes metrics.json with
    ``status: interrupted`` and exits with status 143.
    """
    from hydra.utils import instantiate

    lightning_logs_once()
    t0 = time.perf_counter()
    apply_extras(cfg)
    # Lightning seeds numpy too, which takes 32 bits (it would pick a random seed past that)
    check_range("seed", cfg.seed, 0, 2**32 - 1, integer=True)
    if cfg.get("monitor_mode") is not None:
        check_choice("monitor_mode", cfg.monitor_mode, ("min", "max"))
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    device = resolve_device(cfg.device)
    ckpt_path = str(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    if ckpt_path:
        ckpt = read_checkpoint(ckpt_path)
    do_train = bool(cfg.get("train", True))
    overrides, choices, hydra_dir = _hydra_info()
    out_dir = str(cfg.get("paths", {}).get("output_dir") or hydra_dir or ".")
    os.makedirs(out_dir, exist_ok=True)
    _wandb_offline_if_needed(cfg)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    if ckpt_path and isinstance(model, torch.nn.Module):
        check_checkpoint_fits(ckpt, model, ckpt_path)
    metrics: dict[str, Any] = {}
    status = "completed"
    tested_from: str | None = None
    check_pair(model, datamodule)
    if isinstance(model, EstimatorTask):  # scikit-learn models: fitted in one pass, no trainer
        metrics.update(model.fit_datamodule(datamodule, out_dir=out_dir))
        saved_model = save_sklearn_model(model, out_dir)
        if saved_model:
            print(f"model saved: {saved_model}", file=sys.stderr)
        is_zero = True
    else:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        callbacks = _instantiate_group(cfg.get("callbacks"))
        sigterm_save = CheckpointOnSigterm(os.path.join(out_dir, "checkpoints", "last.ckpt"))
        extra_callbacks = [sigterm_save, ForgetForeignCheckpointPaths()]
        if cfg.get("monitor"):
            extra_callbacks.append(MonitorCheck(str(cfg.monitor)))
        loggers = _instantiate_group(cfg.get("logger"), _wandb_kwargs(cfg))
        trainer_kw: dict[str, Any] = {"callbacks": callbacks + extra_callbacks, "logger": loggers or False}
        accelerator = cfg.trainer.get("accelerator", "auto")
        if accelerator == "auto":
            trainer_kw["accelerator"] = "gpu" if device.type == "cuda" else "cpu"
        elif accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator!r} but no CUDA device is available; "
                "use trainer=default or trainer=cpu"
            )
        try:
            trainer = instantiate(cfg.trainer, **trainer_kw)
        except Exception as exc:
            err = _lightning_user_error(exc)
            if err is None:
                raise
            raise err from None
        written = record_written_checkpoints(trainer)
        for lg in loggers:
            if hasattr(lg, "log_hyperparams"):
                lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        try:
            if do_train:
                trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
                metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
            if cfg.get("test", True):
                if do_train:
                    tested_from = own_best_checkpoint(callbacks, written, out_dir)
                else:
                    tested_from = ckpt_path
                    if not ckpt_path:
                        log.warning("train=false without ckpt_path: testing the model's initial weights")
                trainer.test(model, datamodule=datamodule, ckpt_path=tested_from, weights_only=True)
                metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        except SIGTERMException:
            status = "interrupted"
        except Exception as exc:
            err = _lightning_user_error(exc)
            if err is None:
                raise
            raise err from None
        metrics["epochs"] = int(trainer.current_epoch)
        metrics["steps"] = int(trainer.global_step)
        is_zero = trainer.is_global_zero
    metrics["params"] = count_params(model)
    metrics["wall_s"] = round(time.perf_counter() - t0, 2)
    record = {
        **metrics,
        "seed": int(cfg.seed),
        "device": str(device),
        "overrides": overrides,
        "choices": choices,
        "tags": list(cfg.get("tags") or []),
        "status": status,
        "tested_checkpoint": tested_from,
    }
    if is_zero:
        with open(os.path.join(out_dir, "metrics.json"), "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
        print(summary_table(metrics), file=sys.stderr)
        print(f"run directory: {os.path.abspath(out_dir)} (metrics.json, checkpoints/, pictures)", file=sys.stderr)
    if cfg.get("logger") and "wandb" in cfg.logger:
        import wandb

        if wandb.run is not None:
            wandb.run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
            wandb.finish(exit_code=1 if status == "interrupted" else None)
    if status == "interrupted":
        where = sigterm_save.saved
        print(
            f"interrupted by SIGTERM at step {metrics['steps']}; "
            + (f"resume with ckpt_path={where}" if where else "no checkpoint saved (fitting had finished)"),
            file=sys.stderr,
        )
        raise SystemExit(SIGTERM_EXIT)
    return metrics
