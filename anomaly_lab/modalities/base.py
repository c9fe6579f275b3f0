"""What a modality provides, written down once: a generator, a typed batch, its anomaly kinds, a
codec for export, a datamodule, a small example for the contract tests and a label check.

Batches travel as plain ``dict[str, Tensor]`` (that is what DataLoader workers, shared-memory slots
and the exporters move, and the keys are the exported columns). A :class:`Batch` is the typed view
a task reads them through: each modality documents its keys, dtypes and per-sample shapes in
``FIELDS`` and maps them onto the names every modality shares:

=============  =========================================================================
``inputs``     what a detector sees (frames, a spectrogram, a series)
``step_labels`` per frame / time step anomaly labels ``(B, T)`` (where the data has steps)
``sample_label`` one target per sample ``(B,)`` (the anomaly slot, the class id, anomalous)
``masks``      per-pixel / per-point ground truth, shaped like the inputs or their frames
``kind``       the anomaly kind id per sample (or per event), an index into ``kinds``
``index``      the global sample index ``(B,)`` (added by the datasets)
=============  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.registry import Registry


@dataclass(frozen=True)
class Field:
    """One batch key: its dtype, its per-sample shape in words, and what it holds."""

    dtype: torch.dtype
    shape: str
    doc: str
    optional: bool = False

    @property
    def ndim(self) -> int:
        """Dimensions per sample (``"()"`` is 0, ``"(T, C)"`` is 2)."""
        inner = self.shape.strip("()").strip()
        return 0 if not inner else len([p for p in inner.split(",") if p.strip()])


class Batch:
    """Typed view of a modality's batch dict (subclasses set ``modality`` and ``FIELDS`` and define
    the shared names as properties)."""

    modality: ClassVar[str] = ""
    FIELDS: ClassVar[dict[str, Field]] = {}

    def __init__(self, data: Mapping[str, Tensor]):
        self.data = data

    def __getitem__(self, key: str) -> Tensor:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def index(self) -> Tensor | None:
        return self.data.get("index")

    @classmethod
    def view(cls, data: Mapping[str, Tensor], reader: str = "the model") -> Batch:
        """The typed view of ``data``; a batch of another modality gets one line naming both sides."""
        missing = [k for k, f in cls.FIELDS.items() if not f.optional and k not in data]
        if missing:
            raise ConfigError(
                f"{reader} reads {cls.modality} batches (keys {sorted(cls.required())}) but the data gives keys "
                f"{sorted(data)}; pair it with data={cls.modality} or pick a model for this data"
            )
        return cls(data)

    @classmethod
    def required(cls) -> list[str]:
        return [k for k, f in cls.FIELDS.items() if not f.optional]

    @classmethod
    def check(cls, data: Mapping[str, Tensor]) -> list[str]:
        """Problems of ``data`` against ``FIELDS`` (dtype and per-sample dimensions), as sentences."""
        problems = []
        for key, f in cls.FIELDS.items():
            if key not in data:
                if not f.optional:
                    problems.append(f"{key} is missing")
                continue
            v = data[key]
            if v.dtype != f.dtype:
                problems.append(f"{key} is {v.dtype}, documented {f.dtype}")
            if v.dim() != f.ndim + 1:
                problems.append(f"{key} has shape {tuple(v.shape)}, documented (B, {f.shape.strip('()')})")
        return problems


@dataclass(frozen=True)
class Modality:
    """Everything the framework knows about one kind of data.

    ``example(kind)`` makes a small, fast generator (of one anomaly ``kind``, or the default mixture
    for ``None``) for the contract tests; ``labels_agree(batch)`` says, per sample, whether the labels
    describe what the data shows.
    """

    name: str
    generator: type
    batch: type[Batch]
    kinds: Callable[[], Sequence[str]]
    datamodule: type
    example: Callable[[str | None], Any]
    labels_agree: Callable[[Mapping[str, Tensor]], Tensor]

    def kind_names(self) -> tuple[str, ...]:
        return tuple(self.kinds())


#: every modality, registered by its package (``anomaly_lab.modalities`` imports them all)
MODALITIES: Registry[Modality] = Registry("modality")


def register_modality(modality: Modality) -> Modality:
    MODALITIES.add(modality.name, modality, summary=(modality.generator.__doc__ or "").strip().split("\n")[0])
    return modality


def all_true(values: Tensor) -> Tensor:
    """``(B,)`` bool: every element of each sample's ``values`` is true."""
    return values.reshape(values.shape[0], -1).all(1)
