#!/usr/bin/env python
"""Evaluate a trained run's checkpoint: test it, and optionally score data sample by sample.

    python eval.py ckpt_path=<run>/checkpoints/best.ckpt    # the run's own data, model, seed
    python eval.py ckpt_path=<run>/checkpoints/last.ckpt data.test_size=2000
    python eval.py ckpt_path=<run>/checkpoints/best.ckpt predict=true data=parquet data.path=out/random_anomaly_paper
    python eval.py ckpt_path=<rf_run>/model.skops       # a random forest (saved by train.py)

The run's saved config (<run>/.hydra/config.yaml beside <run>/checkpoints/) is composed with the
overrides given here; metrics.json (and predictions.parquet with predict=true: one row a sample,
index, scores, preds) go into outputs/eval/<time>/. Checkpoints are read with weights_only=True;
a random forest's model.skops is read trusting only the types eval lists.
"""

import sys

import hydra
from omegaconf import DictConfig

from anomaly_lab.cli.process import skip_exit_collections
from anomaly_lab.core.errors import exit_on_user_error


@hydra.main(config_path="conf", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from anomaly_lab.cli.eval import evaluate

    with exit_on_user_error():
        metrics = evaluate(cfg)
    return metrics.get("test/loss")


if __name__ == "__main__":
    from anomaly_lab.cli.eval import run_choice_overrides

    # compose the run's own data/model/trainer groups unless the command line picks others
    sys.argv[1:1] = run_choice_overrides(sys.argv[1:])
    main()
    skip_exit_collections()  # the work is done: a faster exit (anomaly_lab/cli/process.py)
