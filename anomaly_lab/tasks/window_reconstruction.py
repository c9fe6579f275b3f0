"""The window reconstruction task: anomaly scores per time step from window reconstruction errors
(the LSTM-AE in :mod:`anomaly_lab.models.lstm_ae`, the LSTM-VAE in :mod:`anomaly_lab.models.lstm_vae`).

Batches are whole series: ``x`` ``(B, T, C)`` and, for scoring, ``label`` ``(B, T)``. Each series
is z-scored per channel (mean and standard deviation of the first training batch, kept as
buffers in the checkpoint) and cut into windows of ``seq_len`` steps. A training step fits
``train_windows`` windows drawn at random from all the batch's windows (windows of many series
in one step: a step on the windows of a few series alone barely moves these models), the
validation loss is taken on non-overlapping windows, and each step of a series is scored by its
squared reconstruction error per channel, averaged over the windows covering it, divided by the
channel's mean error on the clean validation series (``normalize_channels``; so a channel that is
hard to reconstruct, such as a spiky ECG, does not drown the others), and reduced over channels
by ``channel_reduce`` (``mean``, or ``max`` for anomalies in one channel).
The threshold is the ``threshold_quantile`` of the scores of the (clean) validation series,
set at each validation and saved with the checkpoint. At test, every figure of
:func:`anomaly_lab.metrics.evaluate.evaluate` is logged as ``test/<name>`` and written with the
scores to ``timeseries_test.json`` in the run directory, with the AUROC of each anomaly kind (the
steps of that kind's events against all normal steps) when the batches carry event labels.
"""

from __future__ import annotations

import json
import math

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.evaluate import evaluate
from anomaly_lab.modalities.timeseries.modality import TimeSeriesBatch
from anomaly_lab.modalities.timeseries.windows import fold_mean, sliding_windows
from anomaly_lab.tasks.base import Task
from anomaly_lab.viz.timeseries import plot_scores

CHANNEL_REDUCE = ("mean", "max")

#: figures logged at test (all of evaluate() is written to the JSON report)
LOGGED = (
    "auroc",
    "auprc",
    "vus_roc",
    "vus_pr",
    "best_f1",
    "f1",
    "precision",
    "recall",
    "range_f1",
    "range_precision",
    "range_recall",
    "pa_f1",
    "pa_k_f1",
    "pa_k_auc",
    "event_f1",
    "composite_f1",
    "tdir",
    "dair",
    "td",
    "threshold",
)


class WindowReconstructionTask(Task):
    """Shared training, scoring, thresholding and test metrics of window reconstruction models.
    Subclasses give ``self.net`` and :meth:`window_loss` / :meth:`window_errors`."""

    def __init__(
        self,
        n_features: int,
        seq_len: int,
        lr: float,
        train_stride: int,
        score_stride: int,
        threshold_quantile: float,
        k: int,
        max_windows: int,
        train_windows: int | None = None,
        normalize_channels: bool = False,
        channel_reduce: str = "mean",
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(lr=lr, optimizer=optimizer, scheduler=scheduler)
        check_choice("model.channel_reduce", channel_reduce, CHANNEL_REDUCE)
        if not isinstance(normalize_channels, bool):
            raise ConfigError(f"model.normalize_channels={normalize_channels!r} must be true or false")
        if train_windows is not None:
            check_range("model.train_windows", train_windows, 1, integer=True)
        check_range("model.n_features", n_features, 1, integer=True)
        check_range("model.seq_len", seq_len, 2, integer=True)
        check_range("model.train_stride", train_stride, 1, integer=True)
        check_range("model.score_stride", score_stride, 1, integer=True)
        check_range("model.threshold_quantile", threshold_quantile, 0.0, 1.0)
        check_range("model.k", k, 0, integer=True)
        check_range("model.max_windows", max_windows, 1, integer=True)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("threshold", torch.tensor(math.inf))
        self.register_buffer("channel_scale", torch.ones(n_features))
        self.test_per_kind: dict[str, float] = {}
        self.test_results: dict[str, float] = {}

    # -- to be given by subclasses -------------------------------------------------------------
    def window_loss(self, windows: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def window_errors(self, windows: Tensor) -> Tensor:
        """Per window, step and channel anomaly score ``(N, seq_len, C)`` of z-scored windows ``(N, L, C)``."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def check_batch(self, batch, data_config=None) -> None:
        series = TimeSeriesBatch.view(batch, f"model={type(self).__name__}").inputs
        steps, channels = series.shape[1:]
        if channels != self.hparams.n_features:
            raise ConfigError(
                f"the data's series have {channels} channels but model.n_features={self.hparams.n_features}; "
                f"set model.n_features={channels}"
            )
        if steps < self.hparams.seq_len:
            raise ConfigError(
                f"the data's series have {steps} steps, fewer than model.seq_len={self.hparams.seq_len}; "
                "lower model.seq_len or make longer series"
            )

    def predict(self, batch) -> dict[str, Tensor]:
        scores = self.score_series(batch["x"])
        return {"scores": scores, "preds": (scores > self.threshold.to(scores.dtype)).to(torch.int64)}

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Use these per-channel statistics to z-score inputs (instead of the first training batch's)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        std = torch.as_tensor(std, dtype=self.std.dtype)
        self.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))
        self.fitted.fill_(True)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def channel_errors(self, x: Tensor) -> Tensor:
        """Raw per-step, per-channel scores ``(B, T, C)`` of raw series ``(B, T, C)`` (averaged over
        the windows covering each step)."""
        stride = self.hparams.score_stride
        windows = sliding_windows(self.normalize(x.to(self.mean.dtype)), self.hparams.seq_len, stride)
        b, w, size, c = windows.shape
        flat = windows.reshape(b * w, size, c)
        chunk = self.hparams.max_windows
        errors = torch.cat([self.window_errors(flat[i : i + chunk]) for i in range(0, flat.shape[0], chunk)])
        per_channel = errors.reshape(b, w, size, c).permute(0, 3, 1, 2).reshape(b * c, w, size)
        return fold_mean(per_channel, x.shape[1], stride).reshape(b, c, -1).transpose(1, 2)

    def reduce_channels(self, errors: Tensor) -> Tensor:
        """Scores ``(B, T)`` from per-channel scores ``(B, T, C)``: scaled, then mean or max over channels."""
        scaled = errors / self.channel_scale.to(errors.dtype)
        return scaled.amax(-1) if self.hparams.get("channel_reduce", "mean") == "max" else scaled.mean(-1)

    def score_series(self, x: Tensor) -> Tensor:
        """Anomaly score per step ``(B, T)`` of raw series ``(B, T, C)``."""
        return self.reduce_channels(self.channel_errors(x))

    def _windows(self, x: Tensor, stride: int) -> Tensor:
        windows = sliding_windows(self.normalize(x.to(self.mean.dtype)), self.hparams.seq_len, stride)
        return windows.reshape(-1, self.hparams.seq_len, x.shape[-1])

    def _loss(self, windows: Tensor, stage: str, batch_size: int) -> Tensor:
        chunk = self.hparams.max_windows
        if windows.shape[0] > chunk and stage != "train":
            parts = [self.window_loss(windows[i : i + chunk]) for i in range(0, windows.shape[0], chunk)]
            sizes = [min(chunk, windows.shape[0] - i) for i in range(0, windows.shape[0], chunk)]
            terms = {k: sum(p[k] * n for p, n in zip(parts, sizes)) / sum(sizes) for k in parts[0]}
        else:
            terms = self.window_loss(windows)
        self.log_dict(
            {f"{stage}/{k}": v for k, v in terms.items()},
            on_step=False,
            on_epoch=True,
            prog_bar=stage != "train",
            batch_size=batch_size,
            sync_dist=stage != "train",
        )
        return terms["loss"]

    def step(self, batch, stage: str):
        if stage != "train":
            self._eval_step(batch, stage)
            return None
        x = batch["x"]
        if not bool(self.fitted):
            flat = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
            self.set_normalization(flat.mean(0), flat.std(0))
        windows = self._windows(x, self.hparams.train_stride)
        n = self.hparams.get("train_windows")
        if n is not None and windows.shape[0] > n:  # a random subset (seeded by seed_everything)
            windows = windows[torch.randperm(windows.shape[0], device=windows.device)[:n]]
        return self._loss(windows, "train", x.shape[0])

    def _eval_step(self, batch, stage: str) -> None:
        x = batch["x"]
        self._loss(self._windows(x, self.hparams.seq_len), stage, x.shape[0])  # non-overlapping windows
        label = batch.get("label", torch.zeros(x.shape[:2], dtype=torch.int64, device=x.device))
        errors = self.channel_errors(x) if stage == "val" else self.score_series(x)  # val: scaled at epoch end
        kinds = step_kinds(batch, x.shape[1]) if stage == "test" and "event_kind" in batch else None
        self.collect(stage, batch, errors=errors, label=label, kinds=kinds)

    def epoch_end(self, stage: str, collected: dict[str, Tensor]) -> None:
        if "errors" not in collected:
            return
        if stage == "val":
            self._calibrate(collected["errors"].double())  # (N, T, C), clean series
        else:
            self._test_end(collected)

    def _calibrate(self, errors: Tensor) -> None:
        if self.hparams.get("normalize_channels", False):
            scale = errors.mean((0, 1))
            self.channel_scale.copy_(torch.where(scale > 1e-12, scale, torch.ones_like(scale)).to(self.channel_scale))
        scores = self.reduce_channels(errors.to(self.channel_scale.device)).reshape(-1).cpu()
        q = self.hparams.threshold_quantile
        kth = min(scores.numel(), max(1, math.ceil(q * scores.numel())))
        self.threshold.fill_(float(scores.kthvalue(kth).values))
        self.log("val/threshold", self.threshold.float(), on_epoch=True)
        self.log("val/score_mean", scores.mean().float(), on_epoch=True)

    def _test_end(self, collected: dict[str, Tensor]) -> None:
        scores, labels = collected["errors"].double(), collected["label"]
        threshold = float(self.threshold) if math.isfinite(float(self.threshold)) else None
        results = evaluate(scores, labels, threshold=threshold, k=self.hparams.k)
        self.test_results = results
        per_kind = {}
        if "kinds" in collected and len(collected["kinds"]) == len(scores):
            per_kind = per_kind_auroc(scores, labels, collected["kinds"])
        self.test_per_kind = per_kind
        self.log_dict({f"test/{k}": float(results[k]) for k in LOGGED if k in results}, on_epoch=True)
        if self.writes_files:
            with open(self.picture_path("timeseries_test.json"), "w") as fh:
                json.dump(
                    {
                        "metrics": results,
                        "per_kind_auroc": per_kind,
                        "threshold_from": "validation quantile"
                        if threshold is not None
                        else "best F1 on test (oracle)",
                    },
                    fh,
                    indent=2,
                )
            plot_scores(
                scores[:4],
                labels[:4],
                float(results["threshold"]),
                self.picture_path("test_scores.png"),
                title=type(self).__name__,
            )
            self.log_picture("test/scores", self.picture_path("test_scores.png"))


def step_kinds(batch: dict, steps: int) -> Tensor:
    """``(B, T)`` int64: the kind (index into ``ALL_KINDS``) of the event covering each step, -1 elsewhere."""
    kind, start, end = batch["event_kind"], batch["event_start"], batch["event_end"]
    pos = torch.arange(steps, device=kind.device)[None, :, None]
    inside = (kind[:, None, :] >= 0) & (pos >= start[:, None, :]) & (pos < end[:, None, :])  # (B, T, E)
    return torch.where(inside, kind[:, None, :], torch.full_like(inside, -1, dtype=kind.dtype)).amax(-1)


def per_kind_auroc(scores: Tensor, labels: Tensor, kinds: Tensor) -> dict[str, float]:
    """AUROC of each anomaly kind: scores of the steps of its events against those of all normal steps."""
    from anomaly_lab.metrics.point import auroc
    from anomaly_lab.modalities.timeseries.events import ALL_KINDS

    normal = scores[labels == 0]
    out = {}
    for k in torch.unique(kinds[kinds >= 0]).tolist():  # a loop over kinds, not samples
        pos = scores[kinds == k]
        target = torch.cat([torch.ones_like(pos), torch.zeros_like(normal)])
        out[ALL_KINDS[k]] = auroc(torch.cat([pos, normal]), target)
    return out


#: the name older code uses
ReconstructionDetector = WindowReconstructionTask
