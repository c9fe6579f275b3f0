"""The tutorial's spatio-temporal autoencoder: conv encoder, stacked ConvLSTM cells, transposed-conv
decoder. torch has no ConvLSTM, so the cell is written here (Shi et al., NIPS 2015, without peepholes).

Shapes: ``(B, T, C, H, W)`` clips in [0, 1] -> reconstructions of the same shape. The tutorial's
sizes for 227x227 UCSD frames are encoder ``(128, k11, s4), (64, k5, s2)``, cells ``(64, 32, 64)``
with 3x3 kernels, decoder mirrored; the transposed convs get the output padding that restores the
exact frame size, so any frame size works.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_choice, check_range


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: gates ``i, f, o, g`` from a convolution of ``[x, h]``.

    ``forward(x (B, C_in, H, W), state (h, c) or None) -> (h, c)``, each ``(B, hidden, H, W)``.
    The forget-gate bias starts at 1 (a common choice that keeps early memories).
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        if kernel % 2 == 0:
            raise ConfigError(f"model.lstm_kernel={kernel} must be odd (same-size padding)")
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[hidden : 2 * hidden].fill_(1.0)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


OUTPUTS = ("sigmoid", "none")


class ConvLSTMAutoencoder(nn.Module):
    """Conv encoder (ReLU) -> ConvLSTM stack over time -> transposed-conv decoder (ReLU, then the
    tutorial's sigmoid or, with ``output="none"``, a linear output layer).

    Args:
        frame_size: H = W of the input frames.
        channels: C of the input frames.
        encoder_channels / kernels / strides / paddings: the encoder convs (the decoder mirrors them).
        lstm_channels: hidden channels of each stacked cell (the last feeds the decoder).
        lstm_kernel: the cells' kernel size.
        output: ``sigmoid`` (the tutorial's) or ``none``. On sparse frames such as Moving MNIST an L2
            loss drives a sigmoid output towards an all-black picture, where its gradient vanishes;
            a linear output leaves that plateau within a hundred steps (docs/video.md).
    """

    def __init__(
        self,
        frame_size: int = 64,
        channels: int = 1,
        encoder_channels: Sequence[int] = (128, 64),
        kernels: Sequence[int] = (11, 5),
        strides: Sequence[int] = (4, 2),
        paddings: Sequence[int] | None = None,
        lstm_channels: Sequence[int] = (64, 32, 64),
        lstm_kernel: int = 3,
        output: str = "sigmoid",
    ):
        super().__init__()
        check_choice("model.output", output, OUTPUTS)
        enc, kernels, strides = [int(c) for c in encoder_channels], [int(k) for k in kernels], [int(s) for s in strides]
        paddings = [k // 2 for k in kernels] if paddings is None else [int(p) for p in paddings]
        if not enc or not (len(enc) == len(kernels) == len(strides) == len(paddings)):
            raise ConfigError(
                f"model.encoder_channels={enc}, kernels={kernels}, strides={strides}, paddings={paddings}"
                f" must be non-empty lists of the same length"
            )
        lstm = [int(c) for c in lstm_channels]
        if not lstm or min(lstm + enc) < 1:
            raise ConfigError(f"model.lstm_channels={lstm} and encoder_channels={enc} must be positive")
        check_range("model.frame_size", frame_size, 4, integer=True)
        sizes = [frame_size]
        for k, s, p in zip(kernels, strides, paddings):
            sizes.append(_out_size(sizes[-1], k, s, p))
        if sizes[-1] < 1:
            raise ConfigError(f"model.frame_size={frame_size} is too small for the encoder (sizes {sizes})")
        self.sizes = sizes
        layers: list[nn.Module] = []
        for cin, cout, k, s, p in zip([channels, *enc[:-1]], enc, kernels, strides, paddings):
            layers += [nn.Conv2d(cin, cout, k, s, p), nn.ReLU()]
        self.encoder = nn.Sequential(*layers)
        self.cells = nn.ModuleList(
            ConvLSTMCell(cin, cout, lstm_kernel) for cin, cout in zip([enc[-1], *lstm[:-1]], lstm)
        )
        dec: list[nn.Module] = []
        outs = [*enc[::-1][1:], channels]
        ins = [lstm[-1], *enc[::-1][1:]]
        n = len(enc)
        for j, (cin, cout) in enumerate(zip(ins, outs)):
            i = n - 1 - j  # mirror of encoder layer i
            k, s, p = kernels[i], strides[i], paddings[i]
            target, have = sizes[i], (sizes[i + 1] - 1) * s - 2 * p + k
            dec.append(nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=target - have))
            dec.append(nn.ReLU() if j < n - 1 else (nn.Sigmoid() if output == "sigmoid" else nn.Identity()))
        self.decoder = nn.Sequential(*dec)
        self.kernels, self.strides, self.paddings = kernels, strides, paddings

    def dense_features(self, frames: Tensor, full: bool = False, every_layer: bool = False) -> Tensor | list[Tensor]:
        """The encoder's feature maps computed at every pixel offset (the "a trous" way): each conv
        runs with stride 1 and a dilation equal to the product of the strides before it, so the maps
        are translation-equivariant. ``full=False`` keeps the encoder's paddings, and then
        ``dense[..., ::S, ::S]`` (S = the product of all strides) is the strided encoder's output;
        ``full=True`` pads the frame with zeros by the encoder's whole reach instead and keeps every
        position whose view touches the frame, so nothing drawn in the frame is cut at a border.
        ``frames (N, C, H, W) -> (N, C_enc, H', W')``, or with ``every_layer`` the list of every
        layer's maps."""
        convs = [m for m in self.encoder if isinstance(m, nn.Conv2d)]
        dilations = [math.prod(self.strides[:i]) for i in range(len(convs))]
        x = frames
        if full:
            reach = sum((k - 1) * d for k, d in zip(self.kernels, dilations))
            x = nn.functional.pad(x, (reach, reach, reach, reach))
        maps = []
        for conv, p, d in zip(convs, self.paddings, dilations):
            x = torch.relu(nn.functional.conv2d(x, conv.weight, conv.bias, padding=0 if full else p * d, dilation=d))
            maps.append(x)
        return maps if every_layer else x

    def feature_energy(self, clips: Tensor, chunk: int | None = None) -> Tensor:
        """Per-frame energy of every channel of every encoder layer, computed densely and in full,
        ``sum_p f_c(p)^2``: ``(B, T, C, H, W) -> (B, T, sum(encoder_channels))``. It does not change
        when the content of a frame moves, wherever it lies in the frame, so along a clip of moving
        digits it changes only when what is drawn changes (or digits overlap). Frames go through in
        chunks of ``chunk`` (default: as many as keep the widest layer's maps near 256 MB)."""
        b, t = clips.shape[:2]
        frames = clips.reshape(b * t, *clips.shape[2:])
        if chunk is None:
            reach = sum((k - 1) * math.prod(self.strides[:i]) for i, k in enumerate(self.kernels))
            side = max(clips.shape[-2:]) + 2 * reach  # an upper bound on every layer's map side
            widest = max(m.out_channels for m in self.encoder if isinstance(m, nn.Conv2d))
            chunk = max(1, (256 << 20) // (widest * side * side * clips.element_size()))
        out = [
            torch.cat([f.pow(2).sum(dim=(2, 3)) for f in self.dense_features(part, full=True, every_layer=True)], 1)
            for part in frames.split(chunk)
        ]
        return torch.cat(out).reshape(b, t, -1)

    def forward(self, clips: Tensor) -> Tensor:
        b, t, c, h, w = clips.shape
        feats = self.encoder(clips.reshape(b * t, c, h, w))
        feats = feats.reshape(b, t, *feats.shape[1:])
        states: list[tuple[Tensor, Tensor] | None] = [None] * len(self.cells)
        outputs = []
        for step in range(t):  # recurrence over the T frames
            x = feats[:, step]
            for i, cell in enumerate(self.cells):
                states[i] = cell(x, states[i])
                x = states[i][0]
            outputs.append(x)
        hidden = torch.stack(outputs, 1)
        out = self.decoder(hidden.reshape(b * t, *hidden.shape[2:]))
        return out.reshape(b, t, c, h, w)
