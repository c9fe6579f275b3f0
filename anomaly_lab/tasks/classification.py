"""The classification task: a class head and/or an anomalous-vs-normal head over any net that
returns ``{"logits": (B, K)}`` and/or ``{"binary": (B,)}`` (the spectrogram CNN), with ROAD's figures.

Loss: cross-entropy of the class head plus ``binary_weight`` x binary cross-entropy of the
anomalous-vs-normal head (whichever heads the net has). Logs ``{train,val,test}/loss`` and
``/acc`` each epoch; at the end of validation and test: ``f1_weighted``, ``precision_weighted``,
``recall_weighted``, ``f2`` (anomalous vs normal, from the binary head when there is one, else
from the predicted class), ``fpr``; at test also per-class ``precision/<c>``, ``recall/<c>``,
``f1/<c>``, and it writes ``test_report.json`` and ``test_confusion_matrix.png`` into the run
directory (``self.test_confusion`` keeps the matrix).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.multiclass import binary_scores, classification_scores
from anomaly_lab.modalities.spectrogram.modality import SpectrogramBatch
from anomaly_lab.tasks.base import Task
from anomaly_lab.viz.confusion import save_report


class ClassificationTask(Task):
    """``net(x)`` gives the heads; ``input_shape`` is what it expects per sample (C, H, W)."""

    report_title = "test: true vs predicted"

    def __init__(
        self,
        net: nn.Module,
        input_shape: tuple[int, int, int],
        num_classes: int,
        class_names: list[str],
        binary_weight: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(lr=lr, weight_decay=weight_decay, optimizer=optimizer, scheduler=scheduler)
        check_range("model.binary_weight", binary_weight, 0.0)
        self.net = net
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names)
        self.binary_weight = float(binary_weight)
        self.test_confusion: Tensor | None = None
        self.test_scores: dict[str, float] = {}

    @property
    def has_binary_head(self) -> bool:
        return getattr(self.net, "binary_head", None) is not None

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.net(x)

    def predict_batch(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        """Predicted class (or None without a class head) and predicted anomalous flag."""
        out = self(x)
        pred = out["logits"].argmax(-1) if "logits" in out else None
        anomalous = out["binary"] > 0 if "binary" in out else pred != 0
        return pred, anomalous

    def check_batch(self, batch, data_config=None) -> None:
        x = SpectrogramBatch.view(batch, f"model={type(self).__name__}").inputs
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            c, h, w = self.input_shape
            raise ConfigError(
                f"the data's spectrograms are {tuple(x.shape[1:])} (channels, time, frequency) but the model "
                f"expects {tuple(self.input_shape)} (model.in_channels={c}, model.height={h}, model.width={w})"
            )
        classes = int(batch["y"].max()) + 1
        if self.num_classes and classes > self.num_classes:
            raise ConfigError(f"the data has class id {classes - 1} but model.num_classes={self.num_classes}")

    def predict(self, batch) -> dict[str, Tensor]:
        out = self(batch["x"])
        if "binary" in out:
            scores = torch.sigmoid(out["binary"])
        else:
            scores = 1.0 - out["logits"].softmax(-1)[:, 0]
        pred = out["logits"].argmax(-1) if "logits" in out else (scores > 0.5).to(torch.int64)
        return {"scores": scores, "preds": pred}

    def step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        x, y = batch["x"], batch["y"]
        anomalous = batch.get("anomalous", (y > 0).to(torch.int64))
        out = self(x)
        loss = x.new_zeros(())
        log = {}
        pred = None
        if "logits" in out:
            loss = loss + F.cross_entropy(out["logits"], y)
            pred = out["logits"].argmax(-1)
            log[f"{stage}/acc"] = (pred == y).float().mean()
        if "binary" in out:
            loss = loss + self.binary_weight * F.binary_cross_entropy_with_logits(out["binary"], anomalous.float())
            flag = out["binary"] > 0
            log[f"{stage}/binary_acc"] = (flag == anomalous.bool()).float().mean()
        else:
            flag = pred != 0
        if "logits" not in out:
            log[f"{stage}/acc"] = log[f"{stage}/binary_acc"]
        log[f"{stage}/loss"] = loss
        self.log_dict(
            log,
            prog_bar=stage != "train",
            on_step=False,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=stage != "train",
        )
        self.collect(stage, batch, pred=pred, flag=flag, y=y, anomalous=anomalous)
        return loss

    def epoch_end(self, stage: str, collected: dict[str, Tensor]) -> None:
        scores, cm = self._scores(collected)
        if stage == "val":
            keep = ("f1_weighted", "precision_weighted", "recall_weighted", "f2", "fpr")
            self.log_dict({f"val/{k}": v for k, v in scores.items() if k in keep}, on_epoch=True)
            return
        if not scores:
            return
        self.test_scores = scores
        self.log_dict({f"test/{k}": v for k, v in scores.items() if k != "acc"}, on_epoch=True)
        if cm is None:
            return
        self.test_confusion = cm
        if self.writes_files:
            paths = save_report(scores, cm, self.class_names, self.run_dir, "test", title=self.report_title)
            self.log_picture("test/confusion_matrix", paths["confusion"])

    def _scores(self, collected: dict[str, Tensor]) -> tuple[dict[str, float], Tensor | None]:
        if "flag" not in collected:
            return {}, None
        flag, true_flag = collected["flag"], collected["anomalous"]
        binary = binary_scores(flag, true_flag)
        if "pred" not in collected:
            return {
                "f2": binary["f2"],
                "fpr": binary["fpr"],
                "binary_precision": binary["precision"],
                "binary_recall": binary["recall"],
            }, None
        scores, cm = classification_scores(collected["pred"], collected["y"], self.class_names)
        if self.has_binary_head:  # the binary head decides ROAD's figure; keep the class head's too
            scores["f2_from_classes"] = scores["f2"]
            scores.update(
                f2=binary["f2"], fpr=binary["fpr"], binary_precision=binary["precision"], binary_recall=binary["recall"]
            )
        return scores, cm
