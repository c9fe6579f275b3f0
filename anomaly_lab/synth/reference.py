"""The slow per-image reference: the eight RandomAnomaly recipes built from torchvision v2
transforms and applied one image at a time with torch's global RNG, the way the original notebook
worked. Used by the distribution tests and as the baseline of ``bench/synthesis.py``; never on a
hot path.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

MEAN, STD = 0.1307, 0.3081


class _EightBitRoundTrip(torch.nn.Module):
    """ToPILImage then back to a float tensor, as the notebook's PIL step did."""

    def forward(self, x):
        return F.to_dtype(F.to_image(F.to_pil_image(x)), torch.float32, scale=True)


def _erasing():
    return v2.RandomErasing(p=1.0, scale=(0.1, 0.2), ratio=(0.3, 3.3), value=0)


def reference_recipe(name: str) -> torch.nn.Module:
    """The torchvision transform for one recipe, applied to a [0, 1] float image (1, 50, 50)."""
    table = {
        "baseline": v2.Identity(),
        "perspective_small": v2.RandomPerspective(distortion_scale=0.5, p=1.0, fill=0),
        "perspective": v2.RandomPerspective(distortion_scale=0.9, p=1.0, fill=0),
        "erase": _erasing(),
        "noise": v2.GaussianNoise(mean=0.0, sigma=0.01, clip=False),
        "both": v2.Compose(
            [_erasing(), _EightBitRoundTrip(), v2.RandomPerspective(distortion_scale=0.5, p=1.0, fill=0)]
        ),
        "blur": v2.GaussianBlur(kernel_size=15, sigma=(0.1, 2.0)),
        "sharpness": v2.RandomAdjustSharpness(sharpness_factor=4, p=1.0),
    }
    return table[name]


def _to_float(picture) -> torch.Tensor:
    return F.to_dtype(F.to_image(picture), torch.float32, scale=True)


def _pil_recipe(name: str, base_pil):
    """``name`` the way the notebook ran it on PIL pictures: perspective warps on the PIL image (its
    output is uint8), everything else on the float tensor of the uint8 picture."""
    if name in ("perspective_small", "perspective"):
        return _to_float(reference_recipe(name)(base_pil))
    if name == "both":
        erased = _erasing()(_to_float(base_pil))
        warp = v2.RandomPerspective(distortion_scale=0.5, p=1.0, fill=0)
        return _to_float(warp(F.to_pil_image(erased)))  # ToPILImage truncates, as in the float path
    return reference_recipe(name)(_to_float(base_pil))


def reference_frame(image_u8: torch.Tensor, recipe: str, size: int = 50, pil: bool = False) -> torch.Tensor:
    """One 28x28 uint8 digit -> one normalised (1, size, size) frame through ``recipe``.

    ``pil``: resize (and warp) PIL images, as the notebook did, so the frame passes through uint8
    after the resize and after each perspective; otherwise all in float tensors."""
    if pil:
        from PIL import Image

        base_pil = F.to_pil_image(image_u8[None]).resize((size, size), Image.BILINEAR)
        base = _to_float(base_pil)
        out = _pil_recipe(recipe, base_pil)
    else:
        img = F.to_dtype(F.to_image(image_u8[None]), torch.float32, scale=True)
        base = F.resize(img, [size, size], antialias=True)
        out = reference_recipe(recipe)(base)
    out = out.clamp(float(base.min()), float(base.max()))
    return F.normalize(out, [MEAN], [STD])


def reference_sequence(
    images: torch.Tensor,
    labels: torch.Tensor,
    recipes: list[str],
    k: int,
    seq_len: int = 10,
    size: int = 50,
    pil: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One RandomAnomaly sequence the notebook's way (Python loop, global RNG): returns
    ``x`` (T+1, 1, S, S) and ``y`` (T+1,)."""
    digit = int(labels[k % len(labels)])
    members = torch.nonzero(labels == digit).flatten()
    a, b = torch.randperm(len(recipes))[:2].tolist()
    slot = int(torch.randint(0, seq_len, (1,)))
    frames = []
    for t in range(seq_len):
        src = int(members[torch.randint(0, len(members), (1,))])
        frames.append(reference_frame(images[src], recipes[b] if t == slot else recipes[a], size, pil))
    frames.append(torch.zeros(1, size, size))
    y = torch.zeros(seq_len + 1, dtype=torch.int64)
    y[slot] = 1
    y[seq_len] = slot
    return torch.stack(frames), y
