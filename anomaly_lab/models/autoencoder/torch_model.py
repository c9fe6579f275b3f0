"""The autoencoder tutorial's image autoencoders, sized for any square frame (64x64, 28x28, ...).

All take ``(N, C, H, W)`` images in [0, 1] and return a reconstruction of the same shape.

- :class:`VanillaAutoencoder`: Dense(hidden=128, ReLU) encoder, Dense(C*H*W) decoder.
- :class:`DeepAutoencoder`: Dense 128-64-12-3 encoder (ReLU, linear code), mirrored decoder.
- :class:`ConvAutoencoder`: Conv(32, k5)-MaxPool(2)-Conv(32, k5)-MaxPool(2)-Dense(2000) encoder;
  Dense(32*g*g, ReLU)-Upsample(2)-ConvT(32, k5, ReLU)-Upsample(2)-ConvT(C, k5) decoder, where g is
  the encoder's grid (13 for 64x64, 4 for 28x28, 22 for the tutorial's 100x100).

The tutorial ended its decoders in tanh (or sigmoid for the convolutional one); ``output`` chooses
``sigmoid`` (default: our frames are in [0, 1]), ``tanh`` or ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.core.params import count_parameters

OUTPUTS = ("sigmoid", "tanh", "none")
ARCHITECTURES = ("vanilla", "deep", "conv")


def _activation(name: str) -> nn.Module:
    check_choice("model.output", name, OUTPUTS)
    return {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "none": nn.Identity()}[name]


def conv_grid(size: int, kernel: int = 5) -> int:
    """The ConvAutoencoder's encoder grid for ``size`` x ``size`` input; ConfigError if the decoder
    cannot give ``size`` back (both pooled sizes must be even)."""
    first = size - (kernel - 1)
    second = first // 2 - (kernel - 1)
    if size < 4 * kernel or first % 2 or second % 2 or second < 1:
        ok = [
            s
            for s in range(4 * kernel, 257)
            if (s - kernel + 1) % 2 == 0 and ((s - kernel + 1) // 2 - kernel + 1) % 2 == 0
        ]
        raise ConfigError(
            f"model.frame_size={size} does not fit the convolutional autoencoder (two k{kernel} convs and"
            f" 2x pools must divide evenly); use one of {ok[:8]}... (28, 64, 100 work)"
        )
    return second // 2


class VanillaAutoencoder(nn.Module):
    """One hidden Dense layer: ``C*H*W -> hidden (ReLU) -> C*H*W``."""

    def __init__(self, frame_size: int = 64, channels: int = 1, hidden: int = 128, output: str = "sigmoid"):
        super().__init__()
        check_range("model.hidden", hidden, 1, integer=True)
        n = channels * frame_size * frame_size
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(hidden, n), _activation(output))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x)).view_as(x)


class DeepAutoencoder(nn.Module):
    """Dense encoder ``C*H*W -> 128 -> 64 -> 12 -> 3`` (ReLU between, linear code) and its mirror."""

    def __init__(
        self, frame_size: int = 64, channels: int = 1, widths: Sequence[int] = (128, 64, 12, 3), output: str = "sigmoid"
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ConfigError(f"model.widths={widths} must be a non-empty list of positive sizes")
        n = channels * frame_size * frame_size
        enc: list[nn.Module] = [nn.Flatten()]
        dims = [n, *widths]
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            enc.append(nn.Linear(a, b))
            if i < len(widths) - 1:
                enc.append(nn.ReLU())
        dec: list[nn.Module] = []
        back = dims[::-1]
        for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
            dec.append(nn.Linear(a, b))
            dec.append(nn.ReLU() if i < len(back) - 2 else _activation(output))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x)).view_as(x)


class ConvAutoencoder(nn.Module):
    """Two conv+pool stages, a Dense bottleneck, and a decoder of upsampling and transposed convs."""

    def __init__(
        self,
        frame_size: int = 64,
        channels: int = 1,
        filters: int = 32,
        kernel: int = 5,
        bottleneck: int = 2000,
        output: str = "sigmoid",
    ):
        super().__init__()
        check_range("model.filters", filters, 1, integer=True)
        check_range("model.bottleneck", bottleneck, 1, integer=True)
        self.grid = g = conv_grid(frame_size, kernel)
        self.filters = filters
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, filters, kernel),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(filters, filters, kernel),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(filters * g * g, bottleneck),
        )
        self.expand = nn.Sequential(nn.Linear(bottleneck, filters * g * g), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ConvTranspose2d(filters, filters, kernel),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ConvTranspose2d(filters, channels, kernel),
            _activation(output),
        )

    def forward(self, x: Tensor) -> Tensor:
        code = self.encoder(x)
        h = self.expand(code).view(x.shape[0], self.filters, self.grid, self.grid)
        return self.decoder(h)


def build_autoencoder(arch: str, frame_size: int, channels: int = 1, **options) -> nn.Module:
    """``vanilla`` | ``deep`` | ``conv`` with that class's options."""
    check_choice("model.arch", arch, ARCHITECTURES)
    check_range("model.frame_size", frame_size, 4, integer=True)
    cls = {"vanilla": VanillaAutoencoder, "deep": DeepAutoencoder, "conv": ConvAutoencoder}[arch]
    return cls(frame_size=frame_size, channels=channels, **options)


__all__ = [
    "ARCHITECTURES",
    "ConvAutoencoder",
    "DeepAutoencoder",
    "VanillaAutoencoder",
    "build_autoencoder",
    "conv_grid",
    "count_parameters",
]
