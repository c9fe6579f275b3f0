"""The location task: which frame of a sequence is the anomaly (RandomAnomaly), over any net that
maps ``(B, T, F)`` inputs to per-step outputs ``(B, T, C)`` and features ``(B, T, D)``.

Loss: cross-entropy of the outputs at the final (blank) step against the anomaly slot, as in the
paper; optionally plus ``per_step_weight`` times a binary cross-entropy of a per-step flag head
(the per-step labels exist, the paper left them unused). Logs ``{train,val,test}/loss`` and
``/acc`` every epoch, ``/step_precision``, ``/step_recall``, ``/step_f1`` with the per-step head,
and at test end draws the confusion matrix and a picture of predictions.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_range
from anomaly_lab.metrics.sequence import confusion_counts, step_prf
from anomaly_lab.modalities.random_anomaly.modality import RandomAnomalyBatch
from anomaly_lab.tasks.base import NonFiniteLossError, Task
from anomaly_lab.viz.confusion import confusion_figure
from anomaly_lab.viz.predictions import location_predictions

__all__ = ["LocationTask", "LocationModule", "NonFiniteLossError"]


class LocationTask(Task):
    """``net`` maps ``(B, T, input_size)`` to ``(outputs (B, T, C), features (B, T, D))``; the class
    at the last step is the anomaly slot (``num_classes`` of them)."""

    def __init__(
        self,
        net: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        per_step_weight: float = 0.0,
        num_classes: int | None = None,
        optimizer=None,
        scheduler=None,
    ):
        super().__init__(lr=lr, weight_decay=weight_decay, optimizer=optimizer, scheduler=scheduler)
        check_range("model.per_step_weight", per_step_weight, 0.0)
        self.net = net
        self.per_step_weight = per_step_weight
        self.num_classes = int(num_classes or net.output_size)
        self.input_size = int(net.input_size)
        self.step_head = nn.Linear(net.feature_size, 1) if per_step_weight > 0 else None
        self._example: dict[str, Tensor] | None = None
        self.test_confusion: Tensor | None = None

    def trainable_weights(self) -> int:
        n = self.net.trainable_weights()  # the sparse net counts only its unmasked weights
        if self.step_head is not None:
            n += sum(p.numel() for p in self.step_head.parameters())
        return int(n)

    def check_batch(self, batch: Mapping[str, Tensor], data_config=None) -> None:
        b = RandomAnomalyBatch.view(batch, "model=" + type(self).__name__)
        steps, pixels = b.inputs.shape[1], b.inputs[0, 0].numel()
        if pixels != self.input_size:
            side = int(round(pixels**0.5))
            raise ConfigError(
                f"the data's frames have {pixels} values ({tuple(b.inputs.shape[2:])}, image_size={side}) but "
                f"model.input_size={self.input_size}; set model.input_size={pixels} or match data.generator.image_size"
            )
        slots = int(b.sample_label.max()) + 1 if b.sample_label.numel() else 0
        lacking = float((data_config or {}).get("anomaly_prob", 1.0)) < 1.0 or b.may_lack_anomaly
        needed = steps - 1 + int(lacking)
        if max(slots, needed) > self.num_classes or needed < self.num_classes:
            raise ConfigError(
                f"the data's sequences have {steps - 1} frames (data.generator.seq_len={steps - 1}"
                f"{', some without an anomaly' if lacking else ''}), so the anomaly slot takes {needed} "
                f"values, but model.output_size={self.num_classes}; set model.output_size={needed}"
            )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, t = x.shape[:2]
        return self.net(x.reshape(b, t, -1))

    def predict(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out, _ = self(batch["x"])
        probs = out[:, -1, : self.num_classes].softmax(-1)
        return {"preds": probs.argmax(-1), "scores": probs}

    def step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        x, y = batch["x"], batch["y"]
        out, feats = self(x)
        logits = out[:, -1, : self.num_classes]
        target = y[:, -1]
        loss = F.cross_entropy(logits, target)
        pred = logits.argmax(-1)
        log = {f"{stage}/acc": (pred == target).float().mean()}
        if self.step_head is not None:
            flag_logits = self.step_head(feats[:, :-1]).squeeze(-1)
            flags = y[:, :-1].float()
            loss = loss + self.per_step_weight * F.binary_cross_entropy_with_logits(flag_logits, flags)
            prf = step_prf(flag_logits > 0, flags > 0.5)
            log.update({f"{stage}/step_{k}": prf[k] for k in ("precision", "recall", "f1")})
        log[f"{stage}/loss"] = loss
        self.log_dict(
            log,
            prog_bar=stage != "train",
            on_step=False,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=stage != "train",
        )
        if stage == "test":
            self.collect(stage, batch, pred=pred, true=target)
            if self._example is None:
                self._example = {"x": x[:8].detach().cpu(), "y": y[:8].detach().cpu(), "pred": pred[:8].detach().cpu()}
        return loss

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._example = None

    def epoch_end(self, stage: str, collected: dict[str, Tensor]) -> None:
        if stage != "test" or "pred" not in collected:
            return
        pred, true = collected["pred"], collected["true"]
        n = max(self.num_classes, int(true.max()) + 1, int(pred.max()) + 1)
        self.test_confusion = confusion_counts(pred, true, n)
        if self.writes_files:
            cm_path = self.picture_path("confusion_matrix.png")
            confusion_figure(self.test_confusion.numpy(), path=cm_path, title="anomaly slot: true vs predicted (test)")
            self.log_picture("test/confusion_matrix", cm_path)
            if self._example is not None:
                pred_path = self.picture_path("predictions.png")
                if location_predictions(self._example["x"], self._example["y"], self._example["pred"], pred_path):
                    self.log_picture("test/predictions", pred_path)


#: the name the models and older code use
LocationModule = LocationTask
