"""The spectrogram CNN as a LightningModule: multi-class and binary heads, ROAD's figures."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.errors import check_range
from anomaly_lab.metrics.multiclass import binary_scores, classification_scores, save_report
from anomaly_lab.modalities.spectrogram.classes import CLASS_NAMES
from anomaly_lab.models.spectrogram_cnn.torch_model import SpectrogramCNN, count_parameters


class SpectrogramClassifier(L.LightningModule):
    """Classifies spectrogram batches (``x`` (B, 4, T, F), ``y`` class ids, ``anomalous``).

    Loss: cross-entropy of the class head plus ``binary_weight`` x binary cross-entropy of the
    anomalous-vs-normal head (whichever heads ``heads`` builds). Logs ``{train,val,test}/loss`` and
    ``/acc`` each epoch; at the end of validation and test: ``f1_weighted``, ``precision_weighted``,
    ``recall_weighted``, ``f2`` (anomalous vs normal, from the binary head when there is one, else
    from the predicted class), ``fpr``; at test also per-class ``precision/<c>``, ``recall/<c>``,
    ``f1/<c>``, and it writes ``test_report.json`` and ``test_confusion_matrix.png`` into the run
    directory (``self.test_confusion`` keeps the matrix).
    """

    def __init__(
        self,
        in_channels: int = 4,
        height: int = 256,
        width: int = 256,
        num_classes: int = 10,
        heads: str = "both",
        binary_weight: float = 1.0,
        channels: tuple[int, ...] = (32, 64, 128),
        dense: int = 128,
        dropout: float = 0.5,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        class_names: list[str] | None = None,
    ):
        super().__init__()
        check_range("model.lr", lr, 0.0, low_inclusive=False)
        check_range("model.binary_weight", binary_weight, 0.0)
        # plain lists (not Hydra's ListConfig) keep checkpoints loadable with torch.load(weights_only=True)
        channels = [int(c) for c in channels]
        class_names = [str(c) for c in class_names] if class_names else None
        self.save_hyperparameters()
        self.net = SpectrogramCNN(in_channels, height, width, num_classes, heads, tuple(channels), dense, dropout)
        self.class_names = list(class_names) if class_names else list(CLASS_NAMES[:num_classes])
        self.num_classes = num_classes
        self._outputs: dict[str, list[tuple[Tensor, ...]]] = {"val": [], "test": []}
        self.test_confusion: Tensor | None = None
        self.test_scores: dict[str, float] = {}

    def trainable_weights(self) -> int:
        return count_parameters(self.net)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.net(x)

    def predict_batch(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        """Predicted class (or None without a class head) and predicted anomalous flag."""
        out = self(x)
        pred = out["logits"].argmax(-1) if "logits" in out else None
        anomalous = out["binary"] > 0 if "binary" in out else pred != 0
        return pred, anomalous

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
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
            loss = loss + self.hparams.binary_weight * F.binary_cross_entropy_with_logits(
                out["binary"], anomalous.float()
            )
            flag = out["binary"] > 0
            log[f"{stage}/binary_acc"] = (flag == anomalous.bool()).float().mean()
        else:
            flag = pred != 0
        if "logits" not in out:
            log[f"{stage}/acc"] = log[f"{stage}/binary_acc"]
        log[f"{stage}/loss"] = loss
        self.log_dict(log, prog_bar=stage != "train", on_step=False, on_epoch=True, batch_size=x.shape[0])
        if stage in self._outputs:
            self._outputs[stage].append(
                (
                    pred.detach().cpu() if pred is not None else None,
                    flag.detach().cpu(),
                    y.detach().cpu(),
                    anomalous.detach().cpu(),
                )
            )
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        self._outputs["val"] = []

    def on_test_epoch_start(self) -> None:
        self._outputs["test"] = []

    def on_validation_epoch_end(self) -> None:
        scores, _ = self._scores("val")
        keep = ("f1_weighted", "precision_weighted", "recall_weighted", "f2", "fpr")
        self.log_dict({f"val/{k}": v for k, v in scores.items() if k in keep}, on_epoch=True)

    def on_test_epoch_end(self) -> None:
        scores, cm = self._scores("test")
        if not scores:
            return
        self.test_scores = scores
        self.log_dict({f"test/{k}": v for k, v in scores.items() if k != "acc"}, on_epoch=True)
        if cm is None:
            return
        self.test_confusion = cm
        if self.trainer is not None and self.trainer.is_global_zero:
            paths = save_report(
                scores,
                cm,
                self.class_names,
                self.trainer.default_root_dir,
                "test",
                title="spectrogram CNN, test: true vs predicted",
            )
            for logger in self.loggers:
                if hasattr(logger, "log_image"):
                    logger.log_image(key="test/confusion_matrix", images=[paths["confusion"]])

    def _scores(self, stage: str) -> tuple[dict[str, float], Tensor | None]:
        outputs = self._outputs[stage]
        if not outputs:
            return {}, None
        preds, flags, ys, anomalous = zip(*outputs)
        flag, true_flag = torch.cat(flags), torch.cat(anomalous)
        binary = binary_scores(flag, true_flag)
        if preds[0] is None:
            return {
                "f2": binary["f2"],
                "fpr": binary["fpr"],
                "binary_precision": binary["precision"],
                "binary_recall": binary["recall"],
            }, None
        pred, y = torch.cat(preds), torch.cat(ys)
        scores, cm = classification_scores(pred, y, self.class_names)
        if self.net.binary_head is not None:  # the binary head decides ROAD's figure; keep the class head's too
            scores["f2_from_classes"] = scores["f2"]
            scores.update(
                f2=binary["f2"], fpr=binary["fpr"], binary_precision=binary["precision"], binary_recall=binary["recall"]
            )
        return scores, cm

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
