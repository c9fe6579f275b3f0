"""The in-memory image source every generator draws from."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError


@dataclass
class ImageSource:
    """A labelled set of single-channel images held once as a uint8 tensor.

    Attributes:
        images: ``(N, H, W)`` uint8 on the source's device.
        labels: ``(N,)`` int64 class ids.
        name: where the images came from (for manifests and errors).
        classes: display names of the class ids.
    """

    images: Tensor
    labels: Tensor
    name: str = "images"
    classes: list[str] = field(default_factory=lambda: [str(i) for i in range(10)])

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(f"images must be (N, H, W) uint8, got {tuple(self.images.shape)} {self.images.dtype}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be (N,) and match images")
        self.labels = self.labels.to(torch.int64)
        self._table: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> ImageSource:
        device = torch.device(device)
        if device == self.device:
            return self
        return ImageSource(self.images.to(device), self.labels.to(device), self.name, list(self.classes))

    def class_table(self) -> tuple[Tensor, Tensor]:
        """Per-class index: ``members (C, max_count)`` (padded with 0) and ``counts (C,)``."""
        if self._table is None:
            counts = torch.bincount(self.labels, minlength=self.num_classes)
            order = torch.argsort(self.labels, stable=True)
            starts = torch.cumsum(counts, 0) - counts
            width = max(int(counts.max()), 1)
            pos = torch.arange(width, device=self.device)
            flat = starts[:, None] + pos[None, :]
            valid = pos[None, :] < counts[:, None]
            members = torch.where(valid, order[flat.clamp(max=len(self) - 1)], torch.zeros_like(flat))
            self._table = (members, counts)
        return self._table

    def present_classes(self) -> Tensor:
        """Class ids that have at least one image."""
        return torch.nonzero(self.class_table()[1] > 0).flatten()

    def draw_of_class(self, classes: Tensor, bits: Tensor) -> Tensor:
        """Source indices of images of the given classes, chosen by 32-bit random ``bits``.

        ``classes`` and ``bits`` broadcast; each pick is uniform over the class's members.
        """
        members, counts = self.class_table()
        n = counts[classes]
        if bool((n == 0).any()):
            missing = sorted(set(classes[n == 0].flatten().tolist()))
            raise ConfigError(f"source {self.name!r} has no images of class {missing}")
        slot = (bits * n) >> 32
        return members[classes, slot]
