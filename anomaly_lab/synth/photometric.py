"""Batched pixel-value ops with per-image parameters (images in [0, 1] unless said otherwise)."""

from __future__ import annotations

import torch
from torch import Tensor


def _col(v, images: Tensor) -> Tensor:
    return torch.as_tensor(v, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)


def add_noise(images: Tensor, noise: Tensor, std: Tensor | float, mean: float = 0.0) -> Tensor:
    """``images + mean + std * noise`` with ``noise`` standard normal of the images' shape (no clip:
    the notebook's noise transform did not clip; recipes clamp afterwards)."""
    # (images + mean) + std * noise, summed into the product's tensor (addition commutes bit for
    # bit; images + 0.0 is images): one temporary instead of three
    return (_col(std, images) * noise).add_(images + mean if mean else images)


def adjust_brightness(images: Tensor, factor: Tensor | float) -> Tensor:
    """torchvision's ``adjust_brightness``: ``clamp(factor * x, 0, 1)`` per image."""
    return (images * _col(factor, images)).clamp(0.0, 1.0)


def adjust_contrast(images: Tensor, factor: Tensor | float) -> Tensor:
    """torchvision's ``adjust_contrast`` for grey images: blend with the image's mean intensity."""
    f = _col(factor, images)
    mean = images.mean(dim=(-3, -2, -1), keepdim=True)
    return (f * images + (1.0 - f) * mean).clamp(0.0, 1.0)


def quantize_8bit(images: Tensor) -> Tensor:
    """The round trip through an 8-bit picture that ``ToPILImage`` then ``ToTensor`` make:
    ``x * 255`` truncated to uint8 (``.byte()`` truncates and wraps; inputs here are in [0, 1]),
    then divided by 255."""
    # one new tensor, then in place: the same steps as floor(clamp(x) * 255) * (1 / 255)
    return images.clamp(0.0, 1.0).mul_(255.0).floor_().mul_(1.0 / 255.0)  # as to_dtype(scale=True)


def normalize(images: Tensor, mean: float, std: float) -> Tensor:
    return (images - mean) / std


def clamp_per_image(images: Tensor, low: Tensor, high: Tensor, out: Tensor | None = None) -> Tensor:
    """Clamp image ``i`` to ``[low[i], high[i]]`` (into ``out`` when given).

    Written as ``maximum`` then ``minimum``, which is what ``clamp`` computes (NaN included), because
    ``clamp`` with two broadcast tensor bounds takes an unvectorised loop on CPU: about 4x slower."""
    out = torch.maximum(images, _col(low, images), out=out)
    return torch.minimum(out, _col(high, images), out=out)
