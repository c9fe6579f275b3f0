"""RandomAnomaly as a registered modality: its typed batch, kinds (the recipes) and label check."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from anomaly_lab.loading.generated import GeneratorDataModule
from anomaly_lab.modalities.base import Batch, Field, Modality, register_modality
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.synth.recipes import RANDOM_ANOMALY_RECIPES


class RandomAnomalyBatch(Batch):
    """``x`` frames, ``y`` T per-frame flags then the anomaly slot, the recipes and the digit."""

    modality = "random_anomaly"
    FIELDS = {
        "x": Field(torch.float32, "(T+1, 1, S, S)", "frames normalised with mean/std; the last one blank"),
        "y": Field(torch.int64, "(T+1,)", "T anomaly flags, then the anomaly slot (T when there is none)"),
        "recipe_a": Field(torch.int64, "()", "the normal frames' recipe (index into recipes)", optional=True),
        "recipe_b": Field(torch.int64, "()", "the anomalous frame's recipe", optional=True),
        "digit": Field(torch.int64, "()", "the sequence's digit class", optional=True),
    }

    @property
    def inputs(self) -> Tensor:
        return self["x"]

    @property
    def step_labels(self) -> Tensor:
        return self["y"][:, :-1]

    @property
    def sample_label(self) -> Tensor:
        return self["y"][:, -1]

    @property
    def kind(self) -> Tensor | None:
        return self.get("recipe_b")

    @property
    def may_lack_anomaly(self) -> bool:
        """Whether some sequences have no anomaly (their slot is T): seen in this batch's labels."""
        return bool((self.sample_label == self.step_labels.shape[1]).any())


def _example(kind: str | None) -> RandomAnomalyGenerator:
    recipes = (
        list(RANDOM_ANOMALY_RECIPES)
        if kind is None
        else (["baseline", kind] if kind != "baseline" else ["baseline", "noise"])
    )
    return RandomAnomalyGenerator(seq_len=4, image_size=16, recipes=recipes, seed=5, device="cpu")


def _labels_agree(batch: Mapping[str, Tensor]) -> Tensor:
    b = RandomAnomalyBatch(batch)
    flags, slot = b.step_labels, b.sample_label
    steps = flags.shape[1]
    one_hot = torch.nn.functional.one_hot(slot.clamp(max=steps - 1), steps) * (slot < steps)[:, None]
    blank = b.inputs[:, -1].flatten(1) == 0.0  # the appended blank frame is zero in normalised units
    return (flags == one_hot).all(1) & (b["recipe_a"] != b["recipe_b"]) & blank.all(1)


MODALITY = register_modality(
    Modality(
        name="random_anomaly",
        generator=RandomAnomalyGenerator,
        batch=RandomAnomalyBatch,
        kinds=lambda: RANDOM_ANOMALY_RECIPES,
        datamodule=GeneratorDataModule,
        example=_example,
        labels_agree=_labels_agree,
    )
)
