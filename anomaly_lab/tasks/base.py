"""The one LightningModule base every detector subclasses.

A task owns what is the same in every detector: the three step hooks calling one :meth:`Task.step`,
the check that the training loss stays finite, the collection of per-sample outputs over an epoch
(gathered from every rank under DDP, so epoch metrics equal the single-process ones), the optimizer
and scheduler (injected from config as ``_partial_`` callables, Adam when none is given),
``predict_step`` (per-sample ``scores`` and ``preds`` with their sample ``index``), where pictures
go and how they reach the loggers. A task kind (location, frame or window reconstruction,
classification) adds its loss, its epoch metrics and its pictures; a model adds its net.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from anomaly_lab.core.errors import AnomalyLabError, ConfigError, check_range

#: stages whose per-sample outputs are collected for epoch metrics
EPOCH_STAGES = ("val", "test")


class NonFiniteLossError(AnomalyLabError):
    """The training loss became NaN or infinite."""


class Task(L.LightningModule):
    """Base of every detector. Subclasses define :meth:`step` and, as they need, :meth:`epoch_end`,
    :meth:`predict` and :meth:`check_batch`.

    ``optimizer``: a callable taking the parameters (Hydra's ``_partial_: true`` node, e.g.
    ``torch.optim.AdamW`` with its lr); ``scheduler``: a callable taking the optimizer; with a
    ``ReduceLROnPlateau``-like scheduler ``scheduler_monitor`` names the metric it watches.
    Without ``optimizer`` the task uses Adam with ``lr``, ``weight_decay`` and ``eps``.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        eps: float = 1e-8,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_monitor: str = "val/loss",
    ):
        super().__init__()
        check_range("model.lr", lr, 0.0, low_inclusive=False)
        check_range("model.weight_decay", weight_decay, 0.0)
        check_range("model.eps", eps, 0.0, low_inclusive=False)
        self.lr, self.weight_decay, self.eps = float(lr), float(weight_decay), float(eps)
        if optimizer is not None and not callable(optimizer):
            raise ConfigError(f"model.optimizer={optimizer!r} must be a partial optimizer (_partial_: true)")
        if scheduler is not None and not callable(scheduler):
            raise ConfigError(f"model.scheduler={scheduler!r} must be a partial scheduler (_partial_: true)")
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_monitor = scheduler_monitor
        self._epoch: dict[str, dict[str, list[Tensor]]] = {stage: {} for stage in EPOCH_STAGES}

    # -- what subclasses give ----------------------------------------------------------------------
    def step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor | None:  # pragma: no cover - abstract
        """Loss of ``batch`` at ``stage`` (``train``, ``val``, ``test``), logging and collecting as it goes."""
        raise NotImplementedError

    def epoch_end(self, stage: str, collected: dict[str, Tensor]) -> None:
        """Epoch metrics and pictures from what :meth:`collect` gathered this epoch (every rank's)."""

    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:  # pragma: no cover - abstract
        """Per-sample ``scores`` (higher = more anomalous) and ``preds`` of a batch."""
        raise NotImplementedError(f"{type(self).__name__} has no predict()")

    def check_batch(self, batch: Mapping[str, Tensor], data_config: Mapping[str, Any] | None = None) -> None:
        """Raise a one-line :class:`ConfigError` when ``batch`` (one example batch of the data) does not
        fit this model; ``data_config`` is the generator's ``config_dict()`` when the data is made on
        the fly. Called once before training (:func:`check_pair`)."""

    # -- the Lightning hooks, once ------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        loss = self.step(batch, "train")
        if loss is not None and not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {float(loss)} at step {self.global_step} (model.lr={self.lr}); "
                "lower model.lr or check the data for NaN/inf"
            )
        return loss

    def validation_step(self, batch, batch_idx):
        self.step(batch, "val")

    def test_step(self, batch, batch_idx):
        self.step(batch, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0) -> dict[str, Tensor]:
        out = {k: v.detach() for k, v in self.predict(batch).items()}
        if "index" in batch:
            out.setdefault("index", batch["index"])
        return out

    def on_validation_epoch_start(self) -> None:
        self._epoch["val"] = {}

    def on_test_epoch_start(self) -> None:
        self._epoch["test"] = {}

    def on_validation_epoch_end(self) -> None:
        self.epoch_end("val", self.gathered("val"))

    def on_test_epoch_end(self) -> None:
        self.epoch_end("test", self.gathered("test"))

    # -- epoch collection ---------------------------------------------------------------------------
    def collect(self, stage: str, batch: Mapping[str, Tensor] | None = None, **values: Tensor | None) -> None:
        """Keep per-sample ``values`` (first dimension = the batch) for this epoch's metrics; with
        ``batch`` its sample ``index`` is kept too, which lets the gather drop the rows a distributed
        sampler repeats to even out the ranks."""
        if stage not in self._epoch:
            return
        if batch is not None and "index" in batch:
            values["index"] = batch["index"]
        store = self._epoch[stage]
        for key, value in values.items():
            if value is not None:
                store.setdefault(key, []).append(value.detach().cpu())

    def gathered(self, stage: str) -> dict[str, Tensor]:
        """This epoch's collected values, concatenated; under DDP from every rank, in sample-index
        order with each sample once (so the numbers equal a single-process run's)."""
        local = {k: torch.cat(v) for k, v in self._epoch.get(stage, {}).items() if v}
        trainer = self._trainer
        if trainer is None or trainer.world_size <= 1 or not local:
            return local
        return _gather_ranks(self, local)

    # -- optimizer ----------------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.optimizer_factory is not None:
            optimizer = self.optimizer_factory(params=self.parameters())
        else:
            optimizer = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay, eps=self.eps)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.scheduler_monitor}}

    # -- sizes, pictures ----------------------------------------------------------------------------
    def trainable_weights(self) -> int:
        return int(sum(p.numel() for p in self.parameters() if p.requires_grad))

    @property
    def run_dir(self) -> str:
        """Where pictures and reports go: the trainer's root directory (the Hydra run directory)."""
        return self.trainer.default_root_dir if self._trainer is not None else "."

    @property
    def writes_files(self) -> bool:
        """Only rank zero writes pictures and reports."""
        return self._trainer is not None and self.trainer.is_global_zero

    def log_picture(self, key: str, path: str) -> None:
        """Send a saved picture to every logger that takes images (wandb)."""
        for logger in self.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key=key, images=[path])

    def picture_path(self, name: str) -> str:
        os.makedirs(self.run_dir, exist_ok=True)
        return os.path.join(self.run_dir, name)


def _gather_ranks(module: L.LightningModule, local: dict[str, Tensor]) -> dict[str, Tensor]:
    """All ranks' rows of ``local`` (padded to one length for ``all_gather``), de-duplicated by index."""
    device = module.device
    n = torch.tensor([len(next(iter(local.values())))], device=device)
    counts = module.all_gather(n).reshape(-1).tolist()
    most = int(max(counts))
    out = {}
    for key, value in local.items():
        padded = torch.zeros((most, *value.shape[1:]), dtype=value.dtype, device=device)
        padded[: len(value)] = value.to(device)
        every = module.all_gather(padded)  # (world, most, ...)
        out[key] = torch.cat([every[r, : int(c)] for r, c in enumerate(counts)]).cpu()
    if "index" in out:
        order = torch.argsort(out["index"], stable=True)
        idx = out["index"][order]
        first = torch.ones_like(idx, dtype=torch.bool)
        first[1:] = idx[1:] != idx[:-1]
        keep = order[first]
        out = {k: v[keep] for k, v in out.items()}
    return out


def example_batch(datamodule: L.LightningDataModule, size: int = 2) -> dict[str, Tensor] | None:
    """A small batch of the data's validation split (made or read once), for :func:`check_pair`.

    Data modules keep their map-style datasets in ``datasets`` (generated ones from the start,
    stored ones after ``setup``, which they make idempotent)."""
    datasets = getattr(datamodule, "datasets", None)
    if isinstance(datasets, Mapping) and not datasets:
        datamodule.setup("fit")
    if not isinstance(datasets, Mapping) or not datasets:
        return None
    dataset = datasets.get("val") or datasets.get("train")
    if dataset is None or len(dataset) == 0:
        return None
    return dataset.__getitems__(list(range(min(size, len(dataset)))))


def check_pair(model, datamodule) -> None:
    """Stop before training, with one line naming both sides, when model and data do not fit.

    ``model`` is a :class:`Task` or an :class:`~anomaly_lab.tasks.estimator.EstimatorTask`."""
    from anomaly_lab.tasks.estimator import EstimatorTask

    if not isinstance(model, (Task, EstimatorTask)):
        raise ConfigError(
            f"model {type(model).__name__} is neither a Task nor an EstimatorTask; "
            "subclass anomaly_lab.tasks.base.Task (Lightning) or anomaly_lab.tasks.estimator.EstimatorTask"
        )
    batch = example_batch(datamodule)
    generator = getattr(datamodule, "generator", None)
    data_config = generator.config_dict() if generator is not None else {}
    if batch is not None:
        model.check_batch(batch, data_config)
