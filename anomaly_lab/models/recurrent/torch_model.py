"""Recurrent baselines for sequence anomaly location: LSTM (with ``proj_size`` as the authors'
baseline), GRU and a plain RNN, each read out at every step.

For the LSTM with ``proj_size = output_size`` the projected state *is* the output (the authors'
baseline: ``LSTM(2500, hidden, proj_size=10)``, 110.6K weights at hidden 11); GRU and RNN add a
linear readout. An optional ``density`` < 1 masks the input-to-hidden weights with a fixed random
pattern, so sparsity sweeps apply to the baselines too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_choice, check_range

CELLS = ("lstm", "gru", "rnn")
INITS = ("scaled", "torch")
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def recurrent_params(cell: str, input_size: int, hidden: int, output_size: int, proj: bool = True) -> int:
    """Trainable parameters (weights and biases) of ``RecurrentNet``."""
    g = _GATES[check_choice("model.cell", cell, CELLS)]
    if cell == "lstm" and proj:
        return g * hidden * (input_size + output_size) + 2 * g * hidden + hidden * output_size
    return g * hidden * (input_size + hidden) + 2 * g * hidden + hidden * output_size + output_size


def solve_recurrent_hidden(cell: str, budget: float, input_size: int, output_size: int, proj: bool = True) -> int:
    """Hidden size whose parameter count is nearest ``budget``."""
    best = min(range(1, 4096), key=lambda h: abs(recurrent_params(cell, input_size, h, output_size, proj) - budget))
    return best


class RecurrentNet(nn.Module):
    """``(B, T, input_size)`` -> per-step outputs ``(B, T, output_size)`` and features ``(B, T, F)``."""

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int = 2500,
        hidden: int = 11,
        output_size: int = 10,
        proj: bool = True,
        density: float = 1.0,
        seed: int = 0,
        init: str = "scaled",
    ):
        super().__init__()
        check_choice("model.cell", cell, CELLS)
        check_choice("model.init", init, INITS)
        check_range("model.hidden", hidden, 1, integer=True)
        check_range("model.density", density, 0.0, 1.0, low_inclusive=False)
        if proj and cell == "lstm" and output_size >= hidden:
            raise ConfigError(
                f"model.hidden={hidden} must exceed the output size {output_size} for an LSTM with proj_size"
            )
        g = torch.Generator().manual_seed(int(seed))
        self.cell, self.input_size, self.output_size = cell, input_size, output_size
        self.use_proj = proj and cell == "lstm"
        if cell == "lstm":
            self.rnn = nn.LSTM(input_size, hidden, batch_first=True, proj_size=output_size if self.use_proj else 0)
        elif cell == "gru":
            self.rnn = nn.GRU(input_size, hidden, batch_first=True)
        else:
            self.rnn = nn.RNN(input_size, hidden, batch_first=True, nonlinearity="tanh")
        # Deterministic initialisation from the seed. "torch" is PyTorch's uniform(+-1/sqrt(hidden)) for
        # every weight (the authors' setting); with 2,500 pixel inputs and 11 units it saturates the
        # gates from the first step. "scaled" draws the input weights with bound 1/sqrt(input_size).
        bound = 1.0 / math.sqrt(hidden)
        with torch.no_grad():
            for name, p in self.rnn.named_parameters():
                b = 1.0 / math.sqrt(input_size) if (init == "scaled" and name.startswith("weight_ih")) else bound
                p.copy_(torch.rand(p.shape, generator=g) * 2 * b - b)
        self.readout = None if self.use_proj else nn.Linear(hidden, output_size)
        if self.readout is not None:
            with torch.no_grad():
                self.readout.weight.copy_((torch.rand(self.readout.weight.shape, generator=g) * 2 - 1) * bound)
                self.readout.bias.zero_()
        self.density = float(density)
        if density < 1.0:
            mask = torch.rand(self.rnn.weight_ih_l0.shape, generator=g) < density
            self.register_buffer("ih_mask", mask)
            with torch.no_grad():
                self.rnn.weight_ih_l0.mul_(mask)
            self.rnn.weight_ih_l0.register_hook(lambda grad: grad * self.ih_mask)
        self.feature_size = output_size if self.use_proj else hidden

    def trainable_weights(self) -> int:
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        if self.density < 1.0:
            n -= int((~self.ih_mask).sum())
        return n

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        feats, _ = self.rnn(inputs)
        out = feats if self.readout is None else self.readout(feats)
        return out, feats
