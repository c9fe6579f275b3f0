"""LightningModule for anomaly location in sequences (RandomAnomaly), over any net that maps
``(B, T, F)`` inputs to per-step outputs ``(B, T, C)`` and features ``(B, T, D)``.

Loss: cross-entropy of the outputs at the final (blank) step against the anomaly slot, as in the
paper; optionally plus ``per_step_weight`` times a binary cross-entropy of a per-step flag head
(the per-step labels exist, the paper left them unused). Logs ``{train,val,test}/loss`` and
``/acc`` every epoch, ``/step_precision``, ``/step_recall``, ``/step_f1`` with the per-step head,
and at test end draws the confusion matrix and a picture of predictions.
"""

from __future__ import annotations

import os

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anomaly_lab.core.errors import AnomalyLabError, check_range
from anomaly_lab.metrics.sequence import confusion_counts, step_prf


class NonFiniteLossError(AnomalyLabError):
    """The training loss became NaN or infinite."""


class LocationModule(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        per_step_weight: float = 0.0,
        num_classes: int | None = None,
    ):
        super().__init__()
        check_range("model.lr", lr, 0.0, low_inclusive=False)
        check_range("model.per_step_weight", per_step_weight, 0.0)
        self.net = net
        self.lr, self.weight_decay, self.per_step_weight = lr, weight_decay, per_step_weight
        self.num_classes = num_classes or getattr(net, "output_size", 10)
        feat = getattr(net, "feature_size", None) or getattr(net, "hidden", None)
        self.step_head = nn.Linear(feat, 1) if per_step_weight > 0 else None
        self._test_pred: list[Tensor] = []
        self._test_true: list[Tensor] = []
        self._example: dict[str, Tensor] | None = None

    # -- parameters --------------------------------------------------------------------------------
    def trainable_weights(self) -> int:
        n = (
            self.net.trainable_weights()
            if hasattr(self.net, "trainable_weights")
            else sum(p.numel() for p in self.net.parameters() if p.requires_grad)
        )
        if self.step_head is not None:
            n += sum(p.numel() for p in self.step_head.parameters())
        return int(n)

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, t = x.shape[:2]
        return self.net(x.reshape(b, t, -1))

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        x, y = batch["x"], batch["y"]
        out, feats = self(x)
        logits = out[:, -1, : self.num_classes]
        target = y[:, -1]
        loss = F.cross_entropy(logits, target)
        pred = logits.argmax(-1)
        b = x.shape[0]
        log = {f"{stage}/acc": (pred == target).float().mean()}
        if self.step_head is not None:
            flag_logits = self.step_head(feats[:, :-1]).squeeze(-1)
            flags = y[:, :-1].float()
            loss = loss + self.per_step_weight * F.binary_cross_entropy_with_logits(flag_logits, flags)
            prf = step_prf(flag_logits > 0, flags > 0.5)
            log.update(
                {
                    f"{stage}/step_precision": prf["precision"],
                    f"{stage}/step_recall": prf["recall"],
                    f"{stage}/step_f1": prf["f1"],
                }
            )
        if stage == "train" and not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {float(loss)} at step {self.global_step} (model.lr={self.lr}); "
                "lower model.lr or check the data for NaN/inf"
            )
        log[f"{stage}/loss"] = loss
        self.log_dict(log, prog_bar=stage != "train", on_step=False, on_epoch=True, batch_size=b)
        if stage == "test":
            self._test_pred.append(pred.detach().cpu())
            self._test_true.append(target.detach().cpu())
            if self._example is None:
                self._example = {"x": x[:8].detach().cpu(), "y": y[:8].detach().cpu(), "pred": pred[:8].detach().cpu()}
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_test_epoch_start(self) -> None:
        self._test_pred, self._test_true, self._example = [], [], None

    def on_test_epoch_end(self) -> None:
        if not self._test_pred:
            return
        pred, true = torch.cat(self._test_pred), torch.cat(self._test_true)
        n = max(self.num_classes, int(true.max()) + 1, int(pred.max()) + 1)
        self.test_confusion = confusion_counts(pred, true, n)
        out_dir = self.trainer.default_root_dir if self.trainer is not None else "."
        if self.trainer is not None and self.trainer.is_global_zero:
            from anomaly_lab.metrics.confusion import confusion_figure

            os.makedirs(out_dir, exist_ok=True)
            cm_path = os.path.join(out_dir, "confusion_matrix.png")
            confusion_figure(self.test_confusion.numpy(), path=cm_path, title="anomaly slot: true vs predicted (test)")
            pred_path = os.path.join(out_dir, "predictions.png")
            self._draw_predictions(pred_path)
            for logger in self.loggers:
                if hasattr(logger, "log_image"):
                    logger.log_image(key="test/confusion_matrix", images=[cm_path])
                    logger.log_image(key="test/predictions", images=[pred_path])

    def _draw_predictions(self, path: str) -> None:
        """Test sequences, one a row: true anomaly boxed red, the prediction boxed blue."""
        from anomaly_lab.viz.preview import frame_grid

        ex = self._example
        if ex is None or ex["x"].dim() != 5:
            return
        x = ex["x"][:, :, 0]
        lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
        pix = ((x - lo) / (hi - lo).clamp(min=1e-6) * 255).to(torch.uint8).numpy()
        t = x.shape[1]
        true_box = torch.zeros(x.shape[:2], dtype=torch.bool)
        true_box[:, : t - 1] = ex["y"][:, : t - 1] == 1
        labels = [f"true {int(a)} / pred {int(b)}" for a, b in zip(ex["y"][:, -1], ex["pred"])]
        img = frame_grid(pix, true_box.numpy(), labels)
        from PIL import ImageDraw

        draw = ImageDraw.Draw(img)
        cell = x.shape[-1] * 2 + 4
        width = img.width - t * cell
        for r, p in enumerate(ex["pred"].tolist()):
            if p < t - 1:
                x0, y0 = width + p * cell + 3, r * cell + 3
                draw.rectangle([x0, y0, x0 + cell - 7, y0 + cell - 7], outline=(40, 90, 230), width=2)
        img.save(path)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
