import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.synth import geometry


@pytest.fixture(scope="module")
def digits(mnist_train):
    imgs = mnist_train.images[:12].unsqueeze(1).float() / 255.0
    return geometry.resize(imgs, 50)


def test_resize_matches_torchvision(mnist_train):
    imgs = mnist_train.images[:6].unsqueeze(1).float() / 255.0
    ours = geometry.resize(imgs, 50)
    for i in range(6):
        ref = F.resize(imgs[i], [50, 50], interpolation=InterpolationMode.BILINEAR, antialias=True)
        assert torch.allclose(ours[i], ref, atol=1e-5)


@pytest.mark.parametrize("distortion", [0.5, 0.9])
def test_perspective_matches_torchvision_per_image(digits, distortion):
    n = len(digits)
    rng = CounterRNG(0, torch.arange(n))
    end = geometry.sample_perspective_points(rng, "p", 50, 50, distortion)
    start = torch.tensor([[0, 0], [49, 0], [49, 49], [0, 49]])
    ours = geometry.perspective(digits, geometry.perspective_coefficients(start, end), fill=0.0)
    for i in range(n):
        ref = F.perspective(
            digits[i], start.tolist(), end[i].tolist(), interpolation=InterpolationMode.BILINEAR, fill=0
        )
        assert (ours[i] - ref).abs().max() < 1e-4
    assert not torch.allclose(ours, digits)  # it did warp


def test_perspective_coefficients_that_need_a_gradient_get_one_and_the_same_values(digits):
    """The one-pass grid (addcdiv into its input) records no gradient: coefficients that need one
    take the in-place path, with the same warped values, made inside or outside inference mode."""
    n = len(digits)
    end = geometry.sample_perspective_points(CounterRNG(0, torch.arange(n)), "p", 50, 50, 0.5)
    coeffs = geometry.perspective_coefficients(torch.tensor([[0, 0], [49, 0], [49, 49], [0, 49]]), end)
    with torch.inference_mode():
        plain = geometry.perspective(digits, coeffs)
    wanted = coeffs.clone().requires_grad_()
    warped = geometry.perspective(digits, wanted)
    assert torch.equal(warped.detach(), plain)
    warped.sum().backward()
    assert wanted.grad is not None and bool(torch.isfinite(wanted.grad).all()) and wanted.grad.abs().sum() > 0


def test_perspective_horizon_through_a_pixel_centre_gives_fill_not_nan(digits):
    """Where the warp's denominator vanishes at a pixel centre torchvision divides by zero (NaN);
    ours sends that point off the grid, so it takes the fill. Every other pixel is torchvision's."""
    n = 4
    images = torch.rand(n, 1, 50, 50, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25  # no zero border
    coeffs = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]).repeat(n, 1)
    coeffs[1:, 6] = -1.0 / torch.tensor([24.5, 10.5, 40.5])  # den = 1 + c6 * x is ~0 at x = 24.5, 10.5, 40.5
    den = 1.0 + coeffs[:, 6:7] * torch.linspace(0.5, 49.5, 50)[None, :]
    zero_col = [int(torch.nonzero(d.abs() < 1e-6).flatten()[0]) if bool((d.abs() < 1e-6).any()) else None for d in den]
    assert zero_col == [None, 24, 10, 40]
    ours = geometry.perspective(images, coeffs, fill=0.0)
    assert torch.isfinite(ours).all()
    for i in range(n):
        ref = F.perspective(
            images[i], None, None, interpolation=InterpolationMode.BILINEAR, fill=0, coefficients=coeffs[i].tolist()
        )
        keep = torch.isfinite(ref)
        if zero_col[i] is not None:
            assert not keep[..., zero_col[i]].any()  # torchvision's NaN column
            assert (ours[i][..., zero_col[i]] == 0.0).all()  # ours: the fill
            keep[..., zero_col[i]] = True
            ref = torch.where(torch.isfinite(ref), ref, ours[i])
        assert keep.all() and (ours[i] - ref).abs().max() < 1e-4


def _torchvision_endpoints(t, n):
    """Corners that torchvision's RandomPerspective drew, recovered by inverting its homography."""
    start = torch.tensor([[0.0, 0.0], [49.0, 0.0], [49.0, 49.0], [0.0, 49.0]], dtype=torch.float64)
    out = []
    for _ in range(n):
        c = t.make_params([torch.zeros(1, 50, 50)])["coefficients"]
        h = torch.tensor([[c[0], c[1], c[2]], [c[3], c[4], c[5]], [c[6], c[7], 1.0]], dtype=torch.float64)
        p = torch.cat([start, torch.ones(4, 1, dtype=torch.float64)], 1) @ torch.linalg.inv(h).T
        out.append(torch.round(p[:, :2] / p[:, 2:]))
    return torch.stack(out).to(torch.int64)


@pytest.mark.parametrize("distortion", [0.5, 0.9])
def test_perspective_corners_follow_random_perspective(distortion):
    ours = geometry.sample_perspective_points(CounterRNG(1, torch.arange(4000)), "p", 50, 50, distortion)
    torch.manual_seed(0)
    ref = _torchvision_endpoints(v2.RandomPerspective(distortion_scale=distortion, p=1.0), 1500)
    bound = int(distortion * 25) + 1
    lo = torch.tensor([[0, 0], [50 - bound, 0], [50 - bound, 50 - bound], [0, 50 - bound]])
    assert torch.equal(ours.amin(0), lo) and torch.equal(ours.amax(0), lo + bound - 1)
    assert torch.equal(ref.amin(0), lo) and torch.equal(ref.amax(0), lo + bound - 1)
    # same uniform law per coordinate: means agree within 4 standard errors
    se = ((bound**2 - 1) / 12) ** 0.5 * (1 / 4000 + 1 / 1500) ** 0.5
    assert float((ours.double().mean(0) - ref.double().mean(0)).abs().max()) < 4 * se
    counts = torch.bincount(ours[:, 0, 0], minlength=bound).float()
    expected = 4000 / bound
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < bound + 5 * (2 * bound) ** 0.5  # mean dof, plus 5 standard deviations


def test_affine_and_rotate_match_torchvision(digits):
    n = len(digits)
    rng = CounterRNG(2, torch.arange(n))
    p = geometry.sample_affine_params(rng, "a", degrees=40, translate=0.1, scale=(0.8, 1.2), shear=15, size=(50, 50))
    ours = geometry.affine(digits, p["angle"], p["translate"], p["scale"], p["shear"])
    rot = geometry.rotate(digits, p["angle"])
    for i in range(n):
        ref = F.affine(
            digits[i],
            angle=float(p["angle"][i]),
            translate=[int(v) for v in p["translate"][i]],
            scale=float(p["scale"][i]),
            shear=[float(v) for v in p["shear"][i]],
            interpolation=InterpolationMode.BILINEAR,
            fill=0,
        )
        assert (ours[i] - ref).abs().max() < 1e-4
        ref_rot = F.rotate(digits[i], float(p["angle"][i]), interpolation=InterpolationMode.BILINEAR, fill=0)
        assert (rot[i] - ref_rot).abs().max() < 1e-4
    assert float(p["angle"].abs().max()) <= 40 and float(p["translate"].abs().max()) <= 5


def test_elastic_matches_torchvision(digits):
    n = len(digits)
    d = geometry.sample_elastic_displacement(CounterRNG(4, torch.arange(n)), "e", 50, 50, alpha=50.0, sigma=5.0)
    ours = geometry.elastic(digits, d)
    for i in range(n):
        ref = F.elastic(digits[i], d[i : i + 1], interpolation=InterpolationMode.BILINEAR, fill=0)
        assert (ours[i] - ref).abs().max() < 1e-4
    assert float((ours - digits).abs().mean()) > 0.01


def test_elastic_field_scale_matches_torchvision_sampler():
    d = geometry.sample_elastic_displacement(CounterRNG(5, torch.arange(200)), "e", 50, 50, alpha=50.0, sigma=5.0)
    t = v2.ElasticTransform(alpha=50.0, sigma=5.0)
    torch.manual_seed(0)
    ref = torch.cat([t.make_params([torch.zeros(1, 50, 50)])["displacement"] for _ in range(200)])
    assert d.shape == ref.shape
    assert abs(float(d.std()) / float(ref.std()) - 1) < 0.1


def test_blend_skipped_for_zero_border_images_changes_nothing(digits):
    """grid_transform blends only the images whose border is not all zero; the result equals the
    blended warp of every image (within the rounding of the ones channel)."""
    framed = digits.clone()
    framed[3, ..., 0, :] = 0.7  # one image with a bright top row: blended; the rest: skipped
    grid = (
        torch.rand(len(framed), 50, 50, 2, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2
    )  # some points outside
    fast = geometry.grid_transform(framed, grid, fill=0.0)
    stacked = torch.nn.functional.grid_sample(
        torch.cat([framed, torch.ones_like(framed)], 1), grid, align_corners=False
    )
    blended = stacked[:, :1] * stacked[:, 1:]
    assert torch.equal(fast[3], blended[3])
    assert float((fast - blended).abs().max()) <= 1e-6
    unblended = torch.nn.functional.grid_sample(framed, grid, align_corners=False)
    assert float((unblended[3] - blended[3]).abs().max()) > 0.1  # the blend mattered for that one


def test_nonzero_border_keeps_torchvision_fill_blend(digits):
    framed = digits.clone()
    framed[..., 0, :] = 0.7  # a bright top row: the shortcut no longer holds
    n = len(framed)
    rng = CounterRNG(1, torch.arange(n))
    end = geometry.sample_perspective_points(rng, "p", 50, 50, 0.9)
    start = torch.tensor([[0, 0], [49, 0], [49, 49], [0, 49]])
    ours = geometry.perspective(framed, geometry.perspective_coefficients(start, end), fill=0.0)
    for i in range(n):
        ref = F.perspective(
            framed[i], start.tolist(), end[i].tolist(), interpolation=InterpolationMode.BILINEAR, fill=0
        )
        assert (ours[i] - ref).abs().max() < 1e-4


@pytest.mark.parametrize("size", [50, 20])  # an upscale and a downscale
def test_resize_8bit_is_pils_resize_exactly(mnist_train, size):
    import numpy as np
    from PIL import Image

    digits = mnist_train.images[:300]
    ours = geometry.resize_8bit(digits, size)
    pil = torch.stack(
        [torch.from_numpy(np.array(Image.fromarray(d.numpy()).resize((size, size), Image.BILINEAR))) for d in digits]
    )
    assert ours.dtype == torch.uint8 and torch.equal(ours, pil)


def test_eight_bit_perspective_matches_pils_warp(mnist_train):
    """PIL truncates the warped value to uint8; ``eight_bit`` reproduces it on 99.9% of pixels. The rest
    are a level off (PIL interpolates in double), or, where the warp samples next to a digit that
    touches the frame's edge, more: PIL repeats edge pixels where torchvision's tensor warp (and ours)
    reads zeros."""
    from PIL import Image

    u8 = geometry.resize_8bit(mnist_train.images[:60], 50)
    base = u8.unsqueeze(1).float() / 255.0
    rng = CounterRNG(3, torch.arange(len(base)))
    end = geometry.sample_perspective_points(rng, "p", 50, 50, 0.5)
    start = torch.tensor([[0, 0], [49, 0], [49, 49], [0, 49]])
    ours = geometry.perspective(base, geometry.perspective_coefficients(start, end), eight_bit=True)
    levels = ours * 255.0
    assert float((levels - levels.round()).abs().max()) < 1e-4  # on the 8-bit grid
    pil = torch.stack(
        [
            F.to_dtype(
                F.to_image(
                    F.perspective(
                        Image.fromarray(u8[i].numpy()),
                        start.tolist(),
                        end[i].tolist(),
                        interpolation=InterpolationMode.BILINEAR,
                        fill=0,
                    )
                ),
                torch.float32,
                scale=True,
            )
            for i in range(len(base))
        ]
    )
    off = (ours - pil).abs()
    assert float((off > 1e-6).float().mean()) < 1e-3
