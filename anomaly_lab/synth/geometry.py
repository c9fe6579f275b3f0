"""Batched geometric ops with per-image parameters: resize, perspective, affine/rotation, elastic.

Each kernel reproduces the matching ``torchvision.transforms.v2.functional`` tensor kernel (same
grid construction, ``grid_sample`` with ``align_corners=False``, and torchvision's fill mask), but
takes one parameter set per image and warps the whole batch with one ``grid_sample`` call.
Images are ``(N, C, H, W)`` floats.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from anomaly_lab.core.rng import CounterRNG


def resize(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bilinear resize with antialias, as ``torchvision.transforms.v2.functional.resize``."""
    if isinstance(size, int):
        size = (size, size)
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    # antialiasing only changes a downscale; an upscale gives the same values without its slower kernel
    down = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=down)


def _pil_bilinear_weights(in_size: int, out_size: int) -> Tensor:
    """PIL's fixed-point bilinear resampling weights ``(out_size, in_size)`` int64, built as
    ``ImagingResample`` builds them (``precompute_coeffs`` then ``normalize_coeffs_8bpc``: support
    widened by the scale on a downscale, weights normalised in double, then rounded to 22 bits)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filterscale
    weights = torch.zeros(out_size, in_size, dtype=torch.int64)
    for xx in range(out_size):  # once per size pair (the bank is resized once), not on a hot path
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        ws = [max(0.0, 1.0 - abs((x - center + 0.5) * (1.0 / filterscale))) for x in range(xmin, xmax)]
        total = sum(ws)
        for x, w in zip(range(xmin, xmax), ws):
            w = w / total if total != 0.0 else w
            weights[xx, x] = int(0.5 + w * (1 << 22))  # weights are >= 0 for the bilinear filter
    return weights


def resize_8bit(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bilinear resize of uint8 images ``(..., H, W)`` exactly as PIL's ``Image.resize(BILINEAR)``:
    a horizontal then a vertical pass, each in 22-bit fixed point and rounded to uint8 (so the
    picture goes through 8 bits twice). Returns uint8 of the same leading shape."""
    if isinstance(size, int):
        size = (size, size)
    # Integer arithmetic carried in float64: every product and partial sum is an integer below 2**53,
    # so it is exact in any summation order, and float64 matmul runs on every device (CUDA has no
    # int64 matmul). ``>> 22`` is a multiply by 2**-22 (exact) and a floor.
    x = images.to(torch.float64)
    half, unit = float(1 << 21), 1.0 / (1 << 22)
    if size[1] != x.shape[-1]:
        w = _pil_bilinear_weights(x.shape[-1], size[1]).to(device=x.device, dtype=torch.float64)
        x = torch.floor((x @ w.T + half) * unit).clamp_(0, 255)
    if size[0] != x.shape[-2]:
        w = _pil_bilinear_weights(x.shape[-2], size[0]).to(device=x.device, dtype=torch.float64)
        x = torch.floor((w @ x + half) * unit).clamp_(0, 255)
    return x.to(torch.uint8)


def grid_transform(images: Tensor, grid: Tensor, fill: float | None = 0.0) -> Tensor:
    """``grid_sample`` (bilinear, zeros padding) plus torchvision's fill handling: a ones channel is
    warped with the image and outside pixels are blended towards ``fill``.

    With ``fill == 0`` the blend is only done for images whose one-pixel border is not all zero. For
    the others (nearly all MNIST digits) it changes nothing: a sample point that reaches outside the
    image meets only border pixels inside it, so it is 0 either way, and at a point fully inside the
    warped ones channel is 1 up to rounding (a relative 1e-7 at most). Skipping it saves a third of
    the warp."""
    sample = functools.partial(F.grid_sample, mode="bilinear", padding_mode="zeros", align_corners=False)
    n, c, h, w = images.shape
    if fill is None:
        return sample(images, grid)
    if fill == 0.0 and h >= 2 and w >= 2:
        out = sample(images, grid)
        edge = torch.cat([images[..., :: h - 1, :].reshape(n, -1), images[..., :, :: w - 1].reshape(n, -1)], 1)
        blend = (edge != 0).any(dim=1)
        if bool(blend.any()):
            sel = torch.nonzero(blend).flatten()
            out[sel] = out[sel] * sample(images.new_ones(len(sel), 1, h, w), grid[sel])
        return out
    stacked = torch.cat([images, images.new_ones(n, 1, h, w)], dim=1)
    out = sample(stacked, grid)
    img, mask = out[:, :c], out[:, c:]
    return (img - fill) * mask + fill


# -- perspective ---------------------------------------------------------------------------------
def sample_perspective_points(rng: CounterRNG, stream: str, height: int, width: int, distortion: float) -> Tensor:
    """End points ``(N, 4, 2)`` (x, y) of torchvision's ``RandomPerspective``: each corner drawn
    independently within ``int(distortion * half size) + 1`` pixels of its own corner."""
    bh = int(distortion * (height // 2)) + 1
    bw = int(distortion * (width // 2)) + 1
    lo_x = torch.tensor([0, width - bw, width - bw, 0], device=rng.device)
    lo_y = torch.tensor([0, 0, height - bh, height - bh], device=rng.device)
    dx = rng.integers(f"{stream}/x", (4,), high=bw)
    dy = rng.integers(f"{stream}/y", (4,), high=bh)
    return torch.stack([lo_x + dx, lo_y + dy], dim=-1)


def perspective_coefficients(startpoints: Tensor, endpoints: Tensor) -> Tensor:
    """Per-image coefficients ``(N, 8)`` mapping output to input pixels, solved in float64 like
    torchvision's ``_get_perspective_coeffs`` (batched least squares) and returned as float32."""
    start = startpoints.to(torch.float64)
    end = endpoints.to(torch.float64)
    if start.dim() == 2:
        start = start.expand(end.shape[0], 4, 2)
    n = end.shape[0]
    ex, ey = end[..., 0], end[..., 1]
    sx, sy = start[..., 0], start[..., 1]
    zero, one = torch.zeros_like(ex), torch.ones_like(ex)
    # rows 2k (x of corner k) and 2k+1 (y of corner k) of the 8x8 system, stacked in one go: a dozen
    # small ops instead of the forty that filling a zero matrix slice by slice takes
    even = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], dim=-1)
    odd = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], dim=-1)
    a = torch.stack([even, odd], dim=2).reshape(n, 8, 8)
    b = start.reshape(n, 8, 1)
    coeffs, info = torch.linalg.solve_ex(a, b)
    bad = info != 0  # corners that coincide (tiny images): least squares, as torchvision's lstsq does
    if bool(bad.any()):
        coeffs[bad] = torch.linalg.pinv(a[bad]) @ b[bad]
    return coeffs[..., 0].to(torch.float32)


@functools.lru_cache(maxsize=16)
def _minus_one(dtype: torch.dtype, device: torch.device) -> Tensor:
    """A 0-dim -1 (made once per dtype and device: a new small tensor every call costs more than
    the op that uses it)."""
    return torch.tensor(-1.0, dtype=dtype, device=device)


def perspective(images: Tensor, coefficients: Tensor, fill: float = 0.0, eight_bit: bool = False) -> Tensor:
    """Warp each image by its own 8 perspective coefficients (torchvision's ``perspective``).

    ``eight_bit``: the result goes through uint8 as PIL's warp leaves it (PIL computes the bilinear
    value in double and truncates it to an integer level; ``warp_to_8bit``)."""
    n, _, oh, ow = images.shape
    dtype, device = images.dtype, images.device
    xs = torch.linspace(0.5, ow - 0.5, ow, device=device, dtype=dtype)[None, None, :]
    ys = torch.linspace(0.5, oh - 0.5, oh, device=device, dtype=dtype)[None, :, None]
    # The sums torchvision forms with two bmm calls, written out per pixel: each numerator and the
    # denominator is a row term (N, 1, W) plus a column term (N, H, 1), so the full-size work is one
    # add per plane; the 1 / (size / 2) normalisation is folded into the small terms. The two
    # numerators are the planes of one (N, 2, H, W) tensor, divided and shifted in place with
    # contiguous passes; grid_sample takes its (N, H, W, 2) permuted view as it is (the same values as
    # dividing into a contiguous grid's strided halves, and 1.5-2x faster).
    c = coefficients.to(dtype)[:, :, None, None]  # (N, 8, 1, 1)
    k = torch.tensor([2.0 / ow, 2.0 / oh], device=device, dtype=dtype)[None, :, None, None]
    num = (c[:, [0, 3]] * xs + c[:, [2, 5]]) * k + (c[:, [1, 4]] * ys) * k  # (N, 2, H, W): x and y
    den = (c[:, 6:7] * xs + 1.0) + c[:, 7:8] * ys  # (N, 1, H, W)
    # Where the denominator vanishes the warp's horizon crosses the frame; torchvision divides by
    # zero there and returns NaN pixels. Those points map to infinity, i.e. outside the source, so
    # we send them off-grid and they take the fill value. The denominator is affine in (x, y), so
    # its four corner values tell whether any pixel of an image can come near zero; only those
    # images are searched.
    corners = torch.stack([den[:, 0, 0, 0], den[:, 0, 0, -1], den[:, 0, -1, 0], den[:, 0, -1, -1]], dim=1)
    crosses = torch.nonzero((corners.amin(dim=1) < 1e-6) & (corners.amax(dim=1) > -1e-6)).flatten()
    # (With distortion 0.9 the horizon crosses some 4 frames in 10, but passes within 1e-6 of a pixel
    # centre in about 1 in 500: only those pixels are rewritten.)
    if len(crosses):
        hit = torch.nonzero(den[crosses].abs_() < 1e-6)  # (m, 4): frame among crosses, 0, row, column
        if len(hit):
            frame, row, col = crosses[hit[:, 0]], hit[:, 2], hit[:, 3]
            den[frame, 0, row, col] = 1.0
            num[frame, :, row, col] = 5.0
    # num / den - 1 in one pass: addcdiv forms -1 + (1 * num) / den, and 1 * num is num and the sum
    # of two numbers rounds the same in either order, so the values are those of div_ then sub_.
    # ``out=`` records no gradient, so coefficients that need one take the two in-place ops.
    if num.requires_grad:
        grid = num.div_(den).sub_(1.0)
    else:
        grid = torch.addcdiv(_minus_one(dtype, device), num, den, out=num)
    grid = grid.permute(0, 2, 3, 1)
    out = grid_transform(images, grid, fill)
    return warp_to_8bit(out, out=out) if eight_bit else out


#: PIL truncates its warped value; ours is a float32 version of the same sum, off by a few 1e-5 of a
#: level, so a value that PIL computes as exactly k (a flat region of level k) could land just below
#: it. This slack (in levels) puts those back on k; measured against PIL on the bundled digits it
#: matches 99.99% of warped pixels (99.95% with none).
PIL_WARP_SLACK = 1e-3


def warp_to_8bit(images: Tensor, out: Tensor | None = None) -> Tensor:
    """The uint8 picture PIL's bilinear warp leaves, back in [0, 1]: ``floor(x * 255 + slack) / 255``."""
    t = torch.mul(images, 255.0, out=out).add_(PIL_WARP_SLACK).floor_().clamp_(0.0, 255.0)
    return t.mul_(1.0 / 255.0)  # as to_dtype(scale=True) brings a uint8 picture back


# -- affine / rotation ---------------------------------------------------------------------------
def inverse_affine_matrix(angle: Tensor, translate: Tensor, scale: Tensor, shear: Tensor) -> Tensor:
    """Per-image inverse affine matrices ``(N, 2, 3)`` about the image centre, as torchvision's
    ``_get_inverse_affine_matrix`` (angle and shear in degrees, translate in pixels)."""
    rot = torch.deg2rad(angle.to(torch.float64))
    sx, sy = torch.deg2rad(shear[:, 0].to(torch.float64)), torch.deg2rad(shear[:, 1].to(torch.float64))
    tx, ty = translate[:, 0].to(torch.float64), translate[:, 1].to(torch.float64)
    s = scale.to(torch.float64)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    m0, m1, m3, m4 = d / s, -b / s, -c / s, a / s
    m2 = -m0 * tx - m1 * ty
    m5 = -m3 * tx - m4 * ty
    return torch.stack([torch.stack([m0, m1, m2], -1), torch.stack([m3, m4, m5], -1)], 1)


def affine(
    images: Tensor,
    angle: Tensor,
    translate: Tensor | None = None,
    scale: Tensor | None = None,
    shear: Tensor | None = None,
    fill: float = 0.0,
) -> Tensor:
    """Per-image affine warp about the centre (torchvision's ``affine`` with bilinear interpolation).

    ``angle`` (N,) degrees, ``translate`` (N, 2) pixels, ``scale`` (N,), ``shear`` (N, 2) degrees."""
    n, _, h, w = images.shape
    device, dtype = images.device, images.dtype
    translate = torch.zeros(n, 2, device=device) if translate is None else translate
    scale = torch.ones(n, device=device) if scale is None else scale
    shear = torch.zeros(n, 2, device=device) if shear is None else shear
    theta = inverse_affine_matrix(angle, translate, scale, shear).to(dtype)
    xs = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, w, device=device, dtype=dtype)
    ys = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, h, device=device, dtype=dtype)
    base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, device=device, dtype=dtype)], -1)
    rescaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], device=device, dtype=dtype)
    grid = base.reshape(1, h * w, 3).expand(n, -1, -1).bmm(rescaled).reshape(n, h, w, 2)
    return grid_transform(images, grid, fill)


def rotate(images: Tensor, angle: Tensor, fill: float = 0.0) -> Tensor:
    """Per-image rotation by ``angle`` degrees counter-clockwise (torchvision's ``rotate``)."""
    return affine(images, -angle, fill=fill)


# -- elastic -------------------------------------------------------------------------------------
def identity_grid(h: int, w: int, device, dtype) -> Tensor:
    xs = torch.linspace((-w + 1) / w, (w - 1) / w, w, device=device, dtype=dtype)
    ys = torch.linspace((-h + 1) / h, (h - 1) / h, h, device=device, dtype=dtype)
    return torch.stack([xs.expand(h, w), ys[:, None].expand(h, w)], -1)[None]


def elastic(images: Tensor, displacement: Tensor, fill: float = 0.0) -> Tensor:
    """Per-image elastic warp by ``displacement`` (N, H, W, 2) in normalised grid units
    (torchvision's ``elastic``)."""
    n, _, h, w = images.shape
    grid = identity_grid(h, w, images.device, images.dtype) + displacement.to(images.dtype)
    return grid_transform(images, grid, fill)


def sample_elastic_displacement(
    rng: CounterRNG, stream: str, height: int, width: int, alpha: float = 50.0, sigma: float = 5.0
) -> Tensor:
    """Displacement fields ``(N, H, W, 2)`` as torchvision's ``ElasticTransform``: uniform noise in
    [-1, 1] smoothed by a Gaussian of ``sigma`` (kernel ``int(8*sigma+1)`` made odd), times
    ``alpha / size``."""
    from anomaly_lab.synth.filters import gaussian_blur

    n = len(rng)
    d = rng.uniform(stream, (2, height, width)) * 2 - 1  # (N, 2, H, W)
    if sigma > 0:
        k = int(8 * sigma + 1)
        k += 1 - k % 2
        d = gaussian_blur(d.reshape(n * 2, 1, height, width), torch.full((n * 2,), float(sigma), device=d.device), k)
        d = d.reshape(n, 2, height, width)
    d = d * torch.tensor([alpha / width, alpha / height], device=d.device)[None, :, None, None]
    return d.permute(0, 2, 3, 1)


def sample_affine_params(
    rng: CounterRNG,
    stream: str,
    degrees: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    shear: float = 0.0,
    size: tuple[int, int] = (50, 50),
) -> dict:
    """Per-image affine parameters drawn like ``RandomAffine``: angle U(-degrees, degrees),
    translation U(-translate*W, translate*W) rounded to whole pixels, scale U(scale), x-shear
    U(-shear, shear)."""
    n = len(rng)
    angle = rng.uniform(f"{stream}/angle", (), -degrees, degrees) if degrees else torch.zeros(n, device=rng.device)
    h, w = size
    if translate:
        t = rng.uniform(f"{stream}/translate", (2,), -1.0, 1.0)
        t = torch.round(t * torch.tensor([translate * w, translate * h], device=rng.device))
    else:
        t = torch.zeros(n, 2, device=rng.device)
    s = (
        rng.uniform(f"{stream}/scale", (), scale[0], scale[1])
        if scale[0] != scale[1]
        else torch.full((n,), float(scale[0]), device=rng.device)
    )
    sh = torch.zeros(n, 2, device=rng.device)
    if shear:
        sh[:, 0] = rng.uniform(f"{stream}/shear", (), -shear, shear)
    return {"angle": angle, "translate": t, "scale": s, "shear": sh}


__all__ = [
    "resize",
    "resize_8bit",
    "grid_transform",
    "sample_perspective_points",
    "perspective_coefficients",
    "perspective",
    "warp_to_8bit",
    "inverse_affine_matrix",
    "affine",
    "rotate",
    "identity_grid",
    "elastic",
    "sample_elastic_displacement",
    "sample_affine_params",
]
