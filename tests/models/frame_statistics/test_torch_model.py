import pytest
import torch
from sklearn.metrics import roc_auc_score

from anomaly_lab.core.splits import split_offset
from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator
from anomaly_lab.models.frame_statistics import InkHistogramConsistency


def test_constant_clip_scores_zero_and_a_changed_frame_stands_out():
    clip = torch.zeros(1, 6, 1, 16, 16)
    clip[..., 4:10, 4:10] = 0.8
    model = InkHistogramConsistency()
    assert torch.equal(model(clip), torch.zeros(1, 6))
    clip[0, 2, :, 4:10, 4:7] = 0.0  # half the square gone in frame 2
    scores = model(clip)[0]
    assert scores.argmax().item() == 2
    # 18 of 36 pixels lost at each of the 4 levels below 0.8 (the 0.9 level counts none anyway)
    assert scores[2].item() == pytest.approx(4 * 18 / 37)
    assert torch.equal(scores[[0, 1, 3, 4, 5]], torch.zeros(5))


def test_uint8_and_float_inputs_agree_and_clips_are_independent():
    gen = MovingMnistGenerator(
        seq_len=8, seed=1, device="cpu", similarity={"method": "pca_kmeans", "n_clusters": 10, "subset": 600}
    )
    idx = torch.arange(6) + split_offset("test")
    frames = gen.generate(idx)["frames"]
    model = InkHistogramConsistency()
    together = model(frames)
    assert torch.allclose(together, model(frames.float() / 255.0))
    assert torch.equal(together[3:4], model(frames[3:4]))


def test_finds_substituted_digits_in_moving_mnist():
    # The yardstick reported in docs/video.md: frame AUROC on 300 test clips (half anomalous).
    gen = MovingMnistGenerator(
        seq_len=10, seed=0, device="cpu", similarity={"method": "pca_kmeans", "n_clusters": 30, "subset": 2000}
    )
    batch = gen.generate(torch.arange(300) + split_offset("test"))
    scores = InkHistogramConsistency()(batch["frames"])
    labels = batch["frame_labels"].reshape(-1).numpy()
    assert 0.05 < labels.mean() < 0.2
    assert roc_auc_score(labels, scores.reshape(-1).numpy()) > 0.85


def test_rejects_bad_levels_and_shapes():
    with pytest.raises(ValueError, match="levels"):
        InkHistogramConsistency(levels=[1.5])
    with pytest.raises(ValueError, match="B, T, C, H, W"):
        InkHistogramConsistency()(torch.zeros(2, 3, 8, 8))
