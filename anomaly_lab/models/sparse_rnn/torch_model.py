"""The iterated block-sparse map of Hershey and Paffenroth (ICMLA 2023), as a plain nn.Module.

State ``z = [x; h; y]``. Each step overwrites the ``x`` slice with the step's input and applies
``z <- act(W z + b)`` with ``act`` = ReLU on ``h`` and identity on ``y``. ``W`` is a 3x3 block
matrix whose ``x`` block row is absent, so six blocks train:
``W_hx, W_hh, W_hy`` (producing h) and ``W_yx, W_yh, W_yy`` (producing y). Each block keeps a
random fraction ``p`` of its entries, chosen once from the seed; absent entries are exactly zero
and stay so. Present weights start from N(0, 0.05); the bias covers the whole output.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anomaly_lab.core.errors import ConfigError, check_choice, check_range

BLOCKS = ("W_hx", "W_hh", "W_hy", "W_yx", "W_yh", "W_yy")
BACKENDS = ("masked", "csr")


def parse_structure(code: str | int) -> list[float]:
    """A six-digit structure code -> per-block densities in ``BLOCKS`` order.

    Digit ``d`` in 1..9 means density ``d/10``; ``0`` means dense (1.0). ``"222222"`` is all 0.2."""
    code = str(code)
    if len(code) != 6 or not code.isdigit():
        raise ConfigError(
            f"structure={code!r} must be six digits (one per block {list(BLOCKS)}; 1-9 -> d/10, 0 -> dense)"
        )
    return [1.0 if c == "0" else int(c) / 10 for c in code]


def block_sizes(input_size: int, hidden: int, output_size: int) -> list[int]:
    """Entries of each block in ``BLOCKS`` order."""
    x, h, y = input_size, hidden, output_size
    return [h * x, h * h, h * y, y * x, y * h, y * y]


def expected_weights(input_size: int, hidden: int, output_size: int, densities: Sequence[float]) -> float:
    return sum(p * n for p, n in zip(densities, block_sizes(input_size, hidden, output_size)))


def solve_hidden(budget: float, input_size: int, output_size: int, densities: Sequence[float]) -> int:
    """The hidden size whose expected trainable weights (biases excluded) are nearest ``budget``.

    Expected weights are quadratic in h: ``p_hh h^2 + (p_hx x + p_hy y + p_yh y) h + p_yx y x + p_yy y^2``."""
    p_hx, p_hh, p_hy, p_yx, p_yh, p_yy = densities
    a = p_hh
    b = p_hx * input_size + (p_hy + p_yh) * output_size
    c = p_yx * output_size * input_size + p_yy * output_size**2 - budget
    if c >= 0:
        raise ConfigError(f"budget={budget} is below the {c + budget:.0f} weights the output blocks need alone")
    h = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) if a > 0 else -c / b
    best = min(
        {max(1, math.floor(h)), max(1, math.ceil(h))},
        key=lambda k: abs(expected_weights(input_size, k, output_size, densities) - budget),
    )
    return int(best)


class SparseRNN(nn.Module):
    """Block-sparse iterated map. Input ``(B, T, input_size)``; returns per-step outputs
    ``y`` ``(B, T, output_size)`` and hidden states ``h`` ``(B, T, hidden)``.

    ``backend="masked"`` multiplies by a dense masked matrix (best at moderate density);
    ``backend="csr"`` keeps only the present weights in a torch sparse CSR matrix.
    """

    def __init__(
        self,
        input_size: int = 2500,
        hidden: int = 176,
        output_size: int = 10,
        densities: Sequence[float] = (0.2,) * 6,
        seed: int = 0,
        init_std: float = 0.05,
        backend: str = "masked",
    ):
        super().__init__()
        check_range("model.input_size", input_size, 1, integer=True)
        check_range("model.hidden", hidden, 1, integer=True)
        check_range("model.output_size", output_size, 1, integer=True)
        check_choice("model.backend", backend, BACKENDS)
        densities = [float(p) for p in densities]
        if len(densities) != 6:
            raise ConfigError(f"model.densities={densities} needs 6 values, one per block {list(BLOCKS)}")
        for name, p in zip(BLOCKS, densities):
            check_range(f"density of {name}", p, 0.0, 1.0, low_inclusive=False)
        self.input_size, self.hidden, self.output_size = input_size, hidden, output_size
        self.feature_size = hidden  # what the location task's per-step head reads
        self.densities, self.backend = densities, backend
        rows, cols = hidden + output_size, input_size + hidden + output_size
        g = torch.Generator().manual_seed(int(seed))
        mask = torch.zeros(rows, cols, dtype=torch.bool)
        x, h = input_size, hidden
        spans_r = [(0, h)] * 3 + [(h, rows)] * 3
        spans_c = [(0, x), (x, x + h), (x + h, cols)] * 2
        for p, (r0, r1), (c0, c1) in zip(densities, spans_r, spans_c):
            mask[r0:r1, c0:c1] = torch.rand(r1 - r0, c1 - c0, generator=g) < p
        weight = torch.randn(rows, cols, generator=g) * init_std * mask
        self.register_buffer("mask", mask)
        self.bias = nn.Parameter(torch.zeros(rows))
        if backend == "masked":
            self.weight = nn.Parameter(weight)
            self.weight.register_hook(lambda grad: grad * self.mask)  # absent entries get no gradient
        else:
            # two CSR matrices: the x columns (applied to all steps at once) and the [h; y] columns
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                csr_x = weight[:, :x].to_sparse_csr()
                csr_r = weight[:, x:].to_sparse_csr()
            self.register_buffer("crow_x", csr_x.crow_indices())
            self.register_buffer("col_x", csr_x.col_indices())
            self.register_buffer("crow_r", csr_r.crow_indices())
            self.register_buffer("col_r", csr_r.col_indices())
            self.values_x = nn.Parameter(csr_x.values().clone())
            self.values_r = nn.Parameter(csr_r.values().clone())

    # -- weights ---------------------------------------------------------------------------------
    def dense_weight(self) -> Tensor:
        """The full ``(h+y, x+h+y)`` block matrix (absent entries zero)."""
        if self.backend == "masked":
            return self.weight * self.mask
        wx, wr = self._csr()
        return torch.cat([wx.to_dense(), wr.to_dense()], dim=1)

    def _csr(self) -> tuple[Tensor, Tensor]:
        rows, x = self.mask.shape[0], self.input_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wx = torch.sparse_csr_tensor(self.crow_x, self.col_x, self.values_x, (rows, x))
            wr = torch.sparse_csr_tensor(self.crow_r, self.col_r, self.values_r, (rows, self.mask.shape[1] - x))
        return wx, wr

    def trainable_weights(self) -> int:
        """Present weights (biases excluded), the quantity the budget counts."""
        return int(self.mask.sum())

    def block_counts(self) -> dict[str, int]:
        x, h = self.input_size, self.hidden
        m = self.mask
        return {
            "W_hx": int(m[:h, :x].sum()),
            "W_hh": int(m[:h, x : x + h].sum()),
            "W_hy": int(m[:h, x + h :].sum()),
            "W_yx": int(m[h:, :x].sum()),
            "W_yh": int(m[h:, x : x + h].sum()),
            "W_yy": int(m[h:, x + h :].sum()),
        }

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        b, t, n = inputs.shape
        if n != self.input_size:
            raise ConfigError(f"input has {n} features per step but model.input_size={self.input_size}")
        x, h = self.input_size, self.hidden
        if self.backend == "masked":
            w = self.weight * self.mask
            w_x, w_rec = w[:, :x], w[:, x:]
            # the x columns act on the inputs alone: one matmul for all steps, then one fused
            # matmul over the [h; y] columns per step
            drive = inputs @ w_x.T + self.bias  # (B, T, h+y)

            def recur(state):
                return state @ w_rec.T
        else:
            w_x, w_rec = self._csr()
            drive = torch.sparse.mm(w_x, inputs.reshape(b * t, n).T).T.reshape(b, t, -1) + self.bias

            def recur(state):
                return torch.sparse.mm(w_rec, state.T).T

        state = inputs.new_zeros(b, h + self.output_size)
        outs = []
        for step in range(t):
            pre = drive[:, step] + recur(state)
            state = torch.cat([F.relu(pre[:, :h]), pre[:, h:]], dim=1)
            outs.append(state)
        states = torch.stack(outs, dim=1)  # (B, T, h+y)
        return states[..., h:], states[..., :h]
