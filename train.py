#!/usr/bin/env python
"""Train and test a detector.

    python train.py                  # sparse RNN on on-the-fly RandomAnomaly (bundled MNIST), CPU, minutes
    python train.py model=lstm trainer.max_epochs=10 seed=1
    python train.py debug=fast                             # one batch of train/val/test, to check a config
    python train.py tags=[baseline] model=lstm             # tags go to metrics.json and W&B
    python train.py data=parquet data.path=out/random_anomaly_paper   # files from generate.py (all three splits)
    python train.py experiment=paper_100k                  # sparse 0.2 vs dense vs LSTM at ~100K weights
    python train.py -m model=sparse_rnn,lstm model.density=0.1,0.2,1.0     # sweep -> multirun/.../sweep_results.csv
    python train.py hparams_search=optuna hydra.sweeper.n_trials=4         # Optuna over model.lr, model.density
    python train.py logger=wandb                           # offline when there is no network or key

Each run writes metrics.json, checkpoints (best, last) and pictures into its run directory; SIGTERM
saves checkpoints/last.ckpt and exits 143 (resume with ckpt_path=<run>/checkpoints/last.ckpt).
Score a finished run with eval.py (python eval.py --help).
"""

import hydra
from omegaconf import DictConfig

from anomaly_lab.cli.process import skip_exit_collections
from anomaly_lab.core.errors import exit_on_user_error


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from anomaly_lab.cli.train import train

    with exit_on_user_error():
        metrics = train(cfg)
    return metrics.get(str(cfg.get("optimized_metric") or cfg.monitor))


if __name__ == "__main__":
    main()
    skip_exit_collections()  # the work is done: a faster exit (anomaly_lab/cli/process.py)
