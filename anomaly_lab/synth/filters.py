"""Batched filters with per-image parameters: Gaussian blur and sharpness.

Both match torchvision's tensor kernels (``gaussian_blur`` with reflect padding and its
softmax-built kernel, ``adjust_sharpness`` with its 3x3 smoothing kernel and untouched border).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(kernel_size: int, sigma: Tensor) -> Tensor:
    """Per-image 1-D kernels ``(N, k)``, built as torchvision's ``_get_gaussian_kernel1d``."""
    lim = (kernel_size - 1) / (2.0 * math.sqrt(2.0))
    x = torch.linspace(-lim, lim, kernel_size, device=sigma.device, dtype=torch.float32)
    return torch.softmax(-(x[None, :] / sigma[:, None].to(torch.float32)).pow(2), dim=1)


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int = 15) -> Tensor:
    """Blur image ``i`` with a Gaussian of ``sigma[i]`` (kernel ``kernel_size``, reflect padding).

    One grouped convolution per axis for the whole batch; ``images`` (N, C, H, W)."""
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    n, c, h, w = images.shape
    k = gaussian_kernel1d(kernel_size, sigma).to(images.dtype)  # (N, k)
    k = k.repeat_interleave(c, dim=0)  # one kernel per (image, channel)
    pad = kernel_size // 2
    x = F.pad(images.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k[:, None, None, :], groups=n * c)  # along width
    x = F.conv2d(x, k[:, None, :, None], groups=n * c)  # along height
    return x.reshape(n, c, h, w)


_SHARP_KERNEL = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def adjust_sharpness(images: Tensor, factor: Tensor | float) -> Tensor:
    """torchvision's ``adjust_sharpness`` per image: blend each interior pixel with its 3x3
    smoothed value (``factor`` 0 = smooth, 1 = unchanged, >1 = sharper), keep the border, clamp [0,1]."""
    n, c, h, w = images.shape
    if h <= 2 or w <= 2:
        return images
    factor = torch.as_tensor(factor, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)
    kernel = _SHARP_KERNEL.to(images.device, images.dtype).expand(c, 1, 3, 3)
    blurred = F.conv2d(images, kernel, groups=c)
    out = images.clone()
    inner = out[..., 1:-1, 1:-1]
    out[..., 1:-1, 1:-1] = inner + (1.0 - factor) * (blurred - inner)
    return out.clamp_(0.0, 1.0)
