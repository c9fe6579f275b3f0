"""A scikit-learn random forest over spectrogram features, run through ``train.py``.

It is an :class:`~anomaly_lab.tasks.estimator.EstimatorTask`: ``train.py`` calls
:meth:`RandomForestDetector.fit_datamodule` instead of a Lightning trainer: it
draws the train split's batches, turns them into features (``features.py``), fits the forest, and
scores the val and test splits with the same figures as the CNN.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.metrics.multiclass import classification_scores
from anomaly_lab.modalities.spectrogram.classes import CLASS_NAMES
from anomaly_lab.modalities.spectrogram.modality import SpectrogramBatch
from anomaly_lab.models.random_forest.features import FEATURES, spectrogram_features
from anomaly_lab.tasks.estimator import EstimatorTask
from anomaly_lab.viz.confusion import save_report

TASKS = ("multiclass", "binary")
log = logging.getLogger(__name__)


class RandomForestDetector(EstimatorTask):
    """A random forest on ``band_stats`` or ``downsample`` features of ``x`` (B, 4, T, F).

    ``task``: ``multiclass`` predicts the class id (``y``); ``binary`` predicts ``anomalous``.
    ``max_train_batches`` caps the batches drawn from the train split (None: all of it).
    After :meth:`fit_datamodule`, ``n_params`` is the number of tree nodes.
    """

    def __init__(
        self,
        features: str = "band_stats",
        size: int = 16,
        bands: int = 16,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | float | None = "sqrt",
        class_weight: str | None = None,
        task: str = "multiclass",
        n_jobs: int = 1,
        seed: int = 0,
        max_train_batches: int | None = None,
        class_names: list[str] | None = None,
    ):
        check_choice("model.features", features, FEATURES)
        check_choice("model.task", task, TASKS)
        check_range("model.n_estimators", n_estimators, 1, integer=True)
        check_range("model.min_samples_leaf", min_samples_leaf, 1, integer=True)
        check_range("model.size", size, 1, integer=True)
        check_range("model.bands", bands, 1, integer=True)
        if max_depth is not None:
            check_range("model.max_depth", max_depth, 1, integer=True)
        if max_train_batches is not None:
            check_range("model.max_train_batches", max_train_batches, 1, integer=True)
        check_choice("model.class_weight", class_weight, (None, "balanced", "balanced_subsample"))
        from sklearn.ensemble import RandomForestClassifier

        self.features, self.size, self.bands, self.task = features, size, bands, task
        self.max_train_batches = max_train_batches
        self.class_names = list(class_names) if class_names else list(CLASS_NAMES)
        if task == "binary":
            self.class_names = ["normal", "anomalous"]
        self.forest = RandomForestClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            class_weight=class_weight,
            n_jobs=n_jobs,
            random_state=seed,
        )
        self.n_params = 0
        self.test_confusion: torch.Tensor | None = None

    # -- the task contract ---------------------------------------------------------------------
    def check_batch(self, batch, data_config=None) -> None:
        SpectrogramBatch.view(batch, "model=random_forest")

    def trainable_weights(self) -> int:
        return int(self.n_params)

    def predict(self, batch) -> dict[str, torch.Tensor]:
        proba = torch.from_numpy(self.probabilities(self.featurise(batch)))
        return {"scores": 1.0 - proba[:, 0], "preds": proba.argmax(1)}

    # -- data ----------------------------------------------------------------------------------
    def featurise(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        return spectrogram_features(batch["x"], self.features, self.size, self.bands).cpu().numpy()

    def target(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        key = "y" if self.task == "multiclass" else "anomalous"
        if key == "anomalous" and key not in batch:
            return (batch["y"] > 0).long().cpu().numpy()
        return batch[key].detach().cpu().numpy().astype(np.int64)

    def _collect(self, loader, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        feats, targets = [], []
        for k, batch in enumerate(loader):
            if limit is not None and k >= limit:
                break
            feats.append(self.featurise(batch))
            targets.append(self.target(batch))
        if not feats:
            raise ConfigError("a data split gave no batches; check data.*_size / fractions")
        return np.concatenate(feats), np.concatenate(targets)

    # -- fit and score -------------------------------------------------------------------------
    def fit(self, features: np.ndarray, target: np.ndarray) -> RandomForestDetector:
        self.forest.fit(features, target)
        self.n_params = int(sum(est.tree_.node_count for est in self.forest.estimators_))
        return self

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, len(class_names))`` (classes absent from training get 0)."""
        proba = np.zeros((len(features), len(self.class_names)))
        proba[:, self.forest.classes_] = self.forest.predict_proba(features)
        return proba

    def score(self, features: np.ndarray, target: np.ndarray) -> tuple[dict[str, float], torch.Tensor]:
        proba = self.probabilities(features)
        pred = torch.from_numpy(proba.argmax(1))
        scores, cm = classification_scores(pred, torch.from_numpy(target), self.class_names)
        picked = proba[np.arange(len(target)), target]
        scores["loss"] = float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())  # cross-entropy, as the CNN's loss
        return scores, cm

    def fit_datamodule(self, datamodule, out_dir: str | None = None) -> dict[str, float]:
        """Fit on the train split, score val and test; returns ``{"val/<name>", "test/<name>"}``
        and writes ``test_report.json`` and ``test_confusion_matrix.png`` into ``out_dir``."""
        if hasattr(datamodule, "setup"):
            datamodule.setup("fit")
        t0 = time.perf_counter()
        x_train, y_train = self._collect(datamodule.train_dataloader(), self.max_train_batches)
        t1 = time.perf_counter()
        log.info("random forest: %s features of %d training rows in %.1f s", self.features, len(y_train), t1 - t0)
        self.fit(x_train, y_train)
        log.info(
            "random forest: fitted %d trees (%d nodes) in %.1f s",
            len(self.forest.estimators_),
            self.n_params,
            time.perf_counter() - t1,
        )
        metrics: dict[str, float] = {"fit_s": time.perf_counter() - t0, "train_rows": float(len(y_train))}
        for stage, loader in (("val", datamodule.val_dataloader()), ("test", datamodule.test_dataloader())):
            t2 = time.perf_counter()
            feats, target = self._collect(loader)
            scores, cm = self.score(feats, target)
            log.info("random forest: scored %d %s rows in %.1f s", len(target), stage, time.perf_counter() - t2)
            metrics.update({f"{stage}/{k}": v for k, v in scores.items()})
            if stage == "test":
                self.test_confusion = cm
                if out_dir is not None:
                    save_report(
                        scores, cm, self.class_names, out_dir, "test", title="random forest, test: true vs predicted"
                    )
        return metrics
