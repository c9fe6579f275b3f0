import torch
from torchvision.transforms.v2 import functional as F

from anomaly_lab.synth import photometric


def test_quantize_matches_pil_round_trip():
    x = torch.rand(6, 1, 20, 20)
    x[0, 0, 0, :3] = torch.tensor([0.0, 1.0, 128 / 255])
    ours = photometric.quantize_8bit(x)
    for i in range(6):
        ref = F.to_dtype(F.to_image(F.to_pil_image(x[i])), torch.float32, scale=True)
        assert torch.equal(ours[i], ref)


def test_brightness_and_contrast_match_torchvision():
    x = torch.rand(5, 1, 16, 16)
    f = torch.tensor([0.5, 0.8, 1.0, 1.3, 2.0])
    b = photometric.adjust_brightness(x, f)
    c = photometric.adjust_contrast(x, f)
    for i in range(5):
        assert (b[i] - F.adjust_brightness(x[i], float(f[i]))).abs().max() < 1e-6
        assert (c[i] - F.adjust_contrast(x[i], float(f[i]))).abs().max() < 1e-5


def test_noise_clamp_normalize():
    x = torch.zeros(3, 1, 4, 4)
    noise = torch.ones_like(x)
    assert torch.allclose(
        photometric.add_noise(x, noise, torch.tensor([0.0, 0.1, 0.2])).flatten(1)[:, 0], torch.tensor([0.0, 0.1, 0.2])
    )
    y = photometric.clamp_per_image(
        torch.linspace(-1, 2, 16).reshape(1, 1, 4, 4).repeat(3, 1, 1, 1),
        torch.tensor([0.0, 0.2, 0.4]),
        torch.tensor([1.0, 0.9, 0.8]),
    )
    assert torch.allclose(y.amin(dim=(1, 2, 3)), torch.tensor([0.0, 0.2, 0.4]))
    assert torch.allclose(y.amax(dim=(1, 2, 3)), torch.tensor([1.0, 0.9, 0.8]))
    assert torch.allclose(photometric.normalize(torch.tensor(0.0), 0.1307, 0.3081), torch.tensor(-0.1307 / 0.3081))
