"""LSTM / GRU / RNN baselines as LightningModules for anomaly location."""

from __future__ import annotations

from anomaly_lab.models.recurrent.torch_model import RecurrentNet, solve_recurrent_hidden
from anomaly_lab.tasks.location import LocationTask


class RecurrentModule(LocationTask):
    """``hidden`` is solved from ``budget`` (all trainable parameters) unless given."""

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int = 2500,
        output_size: int = 10,
        hidden: int | None = None,
        budget: float | None = 110_000,
        proj: bool = True,
        density: float = 1.0,
        seed: int = 0,
        init: str = "scaled",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        per_step_weight: float = 0.0,
        optimizer=None,
        scheduler=None,
    ):
        if hidden is None:
            hidden = solve_recurrent_hidden(cell, float(budget), input_size, output_size, proj)
        net = RecurrentNet(cell, input_size, int(hidden), output_size, proj=proj, density=density, seed=seed, init=init)
        super().__init__(
            net,
            lr=lr,
            weight_decay=weight_decay,
            per_step_weight=per_step_weight,
            num_classes=output_size,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        # the constructor's own arguments with hidden resolved: load_from_checkpoint rebuilds the net
        self.save_hyperparameters(
            {
                "cell": cell,
                "input_size": input_size,
                "output_size": output_size,
                "hidden": int(hidden),
                "budget": budget,
                "proj": proj,
                "density": density,
                "seed": seed,
                "init": init,
                "lr": lr,
                "weight_decay": weight_decay,
                "per_step_weight": per_step_weight,
            }
        )
