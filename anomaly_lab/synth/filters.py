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
    pad = kernel_size // 2
    x = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    # Shifted multiply-adds instead of conv2d: convolution kernels pick algorithms by batch size,
    # which would make a sample's pixels depend (in the last bits) on the batch it is made in.
    x = _taps(x, k, dim=3, out=w)
    return _taps(x, k, dim=2, out=h)


def _taps(x: Tensor, k: Tensor, dim: int, out: int) -> Tensor:
    """Correlate ``x`` along ``dim`` with per-image taps ``k`` (N, K), keeping ``out`` positions."""
    weights = k[:, None, None, None, :]
    acc = x.narrow(dim, 0, out) * weights[..., 0]
    for j in range(1, k.shape[1]):
        acc.addcmul_(x.narrow(dim, j, out), weights[..., j])
    return acc


_SHARP_KERNEL = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def adjust_sharpness(images: Tensor, factor: Tensor | float) -> Tensor:
    """torchvision's ``adjust_sharpness`` per image: blend each interior pixel with its 3x3
    smoothed value (``factor`` 0 = smooth, 1 = unchanged, >1 = sharper), keep the border, clamp [0,1]."""
    n, c, h, w = images.shape
    if h <= 2 or w <= 2:
        return images
    factor = torch.as_tensor(factor, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)
    weights = _SHARP_KERNEL.tolist()
    # Fixed-order multiply-adds (results do not depend on the batch size), accumulated in place
    # through one scratch tensor: the same products and sums as ``acc + a * w``, bit for bit (not
    # ``addcmul_``, whose fused multiply-add rounds once where this rounds twice).
    blurred = images[..., 0 : h - 2, 0 : w - 2] * weights[0][0]
    term = torch.empty_like(blurred)
    for dy in range(3):
        for dx in range(3):
            if dy or dx:
                blurred.add_(torch.mul(images[..., dy : h - 2 + dy, dx : w - 2 + dx], weights[dy][dx], out=term))
    inner = images[..., 1:-1, 1:-1]
    out = torch.empty_like(images)
    out[..., 0, :], out[..., -1, :] = images[..., 0, :], images[..., -1, :]  # the border is kept
    out[..., 1:-1, 0], out[..., 1:-1, -1] = images[..., 1:-1, 0], images[..., 1:-1, -1]
    torch.add(inner, blurred.sub_(inner).mul_(1.0 - factor), out=out[..., 1:-1, 1:-1])
    return out.clamp_(0.0, 1.0)
