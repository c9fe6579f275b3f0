#!/usr/bin/env python
"""Export a dataset offline.

    python generate.py                                   # 1,000 RandomAnomaly rows -> out/random_anomaly/
    python generate.py size=58000 split=train seed=3 out_dir=/data/ra export.compression=gzip
    python generate.py preset=random_anomaly_paper       # the published splits (58k / 1k / 1k), gzip
    python generate.py export.layout=compact             # uint8 frames, several times smaller
    python generate.py data=moving_mnist export.format=npz
    python generate.py -m hydra/launcher=joblib shard=0,1 num_shards=2 size=100000   # two processes

Options live in conf/generate.yaml (and conf/data/<name>.yaml); `--help` lists them.
"""

import sys

import hydra
from omegaconf import DictConfig

from anomaly_lab.cli.process import skip_exit_collections
from anomaly_lab.core.errors import exit_on_user_error


@hydra.main(config_path="conf", config_name="generate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from anomaly_lab.cli.generate import run_generate

    try:
        with exit_on_user_error():
            run_generate(cfg)
    except KeyboardInterrupt:
        # the writer has already dropped its unfinished files; finished ones are in the manifest
        print(
            f"error: interrupted; the finished files in {cfg.out_dir} are kept and the same command resumes",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
    skip_exit_collections()  # the work is done: a faster exit (anomaly_lab/cli/process.py)
