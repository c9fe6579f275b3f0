import pytest
import torch
from torchvision.transforms.v2 import functional as F

from anomaly_lab.core.rng import CounterRNG
from anomaly_lab.synth import filters, geometry


@pytest.fixture(scope="module")
def digits(mnist_train):
    return geometry.resize(mnist_train.images[:10].unsqueeze(1).float() / 255.0, 50)


def test_blur_per_image_sigma_matches_torchvision(digits):
    sigma = CounterRNG(0, torch.arange(len(digits))).uniform("s", (), 0.1, 2.0)
    ours = filters.gaussian_blur(digits, sigma, 15)
    for i in range(len(digits)):
        ref = F.gaussian_blur(digits[i], [15, 15], [float(sigma[i])] * 2)
        assert (ours[i] - ref).abs().max() < 1e-4
    # larger sigma blurs more: the peak falls
    assert float(ours.amax(dim=(1, 2, 3))[sigma.argmax()]) < float(digits.amax(dim=(1, 2, 3))[sigma.argmax()])


def test_blur_on_multichannel_batch(digits):
    x = torch.cat([digits, digits.flip(-1)], 1)  # (N, 2, H, W)
    sigma = torch.linspace(0.3, 1.8, len(x))
    ours = filters.gaussian_blur(x, sigma, 7)
    for i in (0, 5, 9):
        ref = F.gaussian_blur(x[i], [7, 7], [float(sigma[i])] * 2)
        assert (ours[i] - ref).abs().max() < 1e-4
    with pytest.raises(ValueError):
        filters.gaussian_blur(x, sigma, 4)


@pytest.mark.parametrize("factor", [0.0, 0.5, 4.0])
def test_sharpness_matches_torchvision(digits, factor):
    ours = filters.adjust_sharpness(digits, factor)
    for i in range(len(digits)):
        ref = F.adjust_sharpness(digits[i].clone(), factor)
        assert (ours[i] - ref).abs().max() < 1e-4


def test_sharpness_per_image_factor(digits):
    factors = torch.linspace(0.5, 4.0, len(digits))
    ours = filters.adjust_sharpness(digits, factors)
    for i in range(len(digits)):
        assert (ours[i] - F.adjust_sharpness(digits[i].clone(), float(factors[i]))).abs().max() < 1e-4
