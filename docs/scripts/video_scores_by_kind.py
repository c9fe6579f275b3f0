#!/usr/bin/env python
"""Frame AUROC of each video score by anomaly kind: the per-kind table in docs/video.md.

    python docs/scripts/video_scores_by_kind.py outputs/moving_mnist_convlstm/<time>/checkpoints/best.ckpt

Makes ``--clips`` test clips of Anomalous Moving MNIST with all six anomaly kinds at equal weights
(the generator of ``experiment=moving_mnist_convlstm`` otherwise: seed 0, 10 frames, the t-SNE table)
and scores every frame with a trained ConvLSTM autoencoder's reconstruction error and consistency
score, the training-free ink-histogram yardstick, and the consistency score of the untrained
(seed-0) network calibrated on the same number of normal clips as the trained one. Each row puts the
frames of one kind's clips against those of the normal clips.
"""

from __future__ import annotations

import argparse
import os

import torch

from anomaly_lab.core.splits import split_offset
from anomaly_lab.metrics.video import auroc, frame_errors
from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.anomalies import KINDS
from anomaly_lab.models.conv_lstm_ae.lightning_model import ConvLSTMAEModule
from anomaly_lab.models.frame_statistics import InkHistogramConsistency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a ConvLSTMAEModule checkpoint (best.ckpt of the experiment)")
    parser.add_argument("--clips", type=int, default=1200, help="test clips (default 1200)")
    args = parser.parse_args()
    if not os.path.isfile(args.checkpoint):
        parser.error(f"checkpoint={args.checkpoint!r} is not a file; give a run's checkpoints/best.ckpt")
    if args.clips < 2:
        parser.error(f"--clips={args.clips} must be at least 2")
    torch.set_grad_enabled(False)
    trained = ConvLSTMAEModule.load_from_checkpoint(args.checkpoint, map_location="cpu", weights_only=True).eval()
    torch.manual_seed(0)
    untrained = ConvLSTMAEModule(**dict(trained.hparams)).eval()
    gen = MovingMnistGenerator(
        seq_len=10,
        seed=0,
        device="cpu",
        kinds={k: 1.0 for k in KINDS},
        similarity={"method": "tsne_kmeans", "n_clusters": 30},
    )
    untrained.calibrate_consistency(gen.generate(torch.arange(trained.consistency_clips))["frames"].float() / 255)
    batch = gen.generate(torch.arange(args.clips) + split_offset("test"))
    clips = (batch["frames"].float() / 255).split(50)
    scores = {
        "reconstruction error": torch.cat([frame_errors(trained.reconstruct(c), c) for c in clips]),
        "consistency, trained": torch.cat([trained.consistency(c) for c in clips]),
        "ink histogram": InkHistogramConsistency()(batch["frames"]),
        "consistency, untrained": torch.cat([untrained.consistency(c) for c in clips]),
    }
    kind, labels = batch["anomaly_kind"], batch["frame_labels"]
    print("| kind (clips) | " + " | ".join(scores) + " |")
    print("|---|" + "---:|" * len(scores))
    for k, name in enumerate(KINDS, start=1):
        keep = (kind == 0) | (kind == k)
        row = [f"{auroc(s[keep], labels[keep]):.3f}" for s in scores.values()]
        print(f"| {name} ({int((kind == k).sum())}) | " + " | ".join(row) + " |")
    print(f"| all ({len(kind)}) | " + " | ".join(f"{auroc(s, labels):.3f}" for s in scores.values()) + " |")


if __name__ == "__main__":
    main()
