"""Sparse RNN as a LightningModule for anomaly location (budget-solved hidden size, presets)."""

from __future__ import annotations

from collections.abc import Sequence

from anomaly_lab.core.errors import ConfigError, check_choice, check_range
from anomaly_lab.models.sparse_rnn.torch_model import BLOCKS, SparseRNN, expected_weights, parse_structure, solve_hidden
from anomaly_lab.tasks.location import LocationTask

PRESETS = {
    # name: (densities, budget) from the paper's table (shared/spec/sparse_rnn.md)
    "sparse_100k": ([0.2] * 6, 100_000),
    "dense_100k": ([1.0] * 6, 100_000),
    "balanced_100k": ([0.08, 1.0, 1.0, 0.1, 0.1, 0.1], 100_000),
    "sparse_1m": ([0.2] * 6, 1_000_000),
    "dense_1m": ([1.0] * 6, 1_000_000),
}


def resolve_densities(
    density: float | None, densities: Sequence[float] | None, structure: str | int | None, preset: str | None
) -> tuple[list[float], float | None]:
    """One density for all blocks, six densities, a six-digit structure code or a preset name
    (later ones win); returns the densities and the preset's budget, if any."""
    budget = None
    if preset is not None:
        check_choice("model.preset", preset, PRESETS)
        dens, budget = PRESETS[preset]
        dens = list(dens)
    else:
        dens = [0.2] * 6
    if density is not None:
        dens = [float(density)] * 6
    if densities is not None:
        dens = [float(d) for d in densities]
    if structure is not None:
        dens = parse_structure(structure)
    if len(dens) != 6:
        raise ConfigError(f"model.densities={dens} must give six densities, one per block {list(BLOCKS)}")
    for name, d in zip(BLOCKS, dens):
        check_range(f"model density of {name}", d, 0.0, 1.0, low_inclusive=False)
    return dens, budget


class SparseRNNModule(LocationTask):
    """``hidden`` is solved from ``budget`` (expected trainable weights, biases excluded) unless given."""

    def __init__(
        self,
        input_size: int = 2500,
        output_size: int = 10,
        hidden: int | None = None,
        budget: float | None = 100_000,
        density: float | None = None,
        densities: Sequence[float] | None = None,
        structure: str | int | None = None,
        preset: str | None = None,
        backend: str = "masked",
        seed: int = 0,
        init_std: float = 0.05,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        per_step_weight: float = 0.0,
        optimizer=None,
        scheduler=None,
    ):
        check_range("model.init_std", init_std, 0.0, low_inclusive=False)
        dens, preset_budget = resolve_densities(density, densities, structure, preset)
        budget = preset_budget if preset is not None and preset_budget is not None else budget
        if hidden is None:
            if budget is None:
                raise ConfigError("set model.hidden or model.budget (got neither)")
            hidden = solve_hidden(float(budget), input_size, output_size, dens)
        net = SparseRNN(input_size, int(hidden), output_size, dens, seed=seed, init_std=init_std, backend=backend)
        super().__init__(
            net,
            lr=lr,
            weight_decay=weight_decay,
            per_step_weight=per_step_weight,
            num_classes=output_size,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        self.expected_weights = expected_weights(input_size, int(hidden), output_size, dens)
        # the constructor's own arguments, resolved (hidden solved, densities spelled out), so
        # load_from_checkpoint(path, weights_only=True) rebuilds the same net
        self.save_hyperparameters(
            {
                "input_size": input_size,
                "output_size": output_size,
                "hidden": int(hidden),
                "budget": budget,
                "densities": [float(d) for d in dens],
                "backend": backend,
                "seed": seed,
                "init_std": init_std,
                "lr": lr,
                "weight_decay": weight_decay,
                "per_step_weight": per_step_weight,
            }
        )
