"""Video scores: per-frame errors, the regularity score, AUROC / AUPRC against sklearn (with ties
and unknown labels), the streamed pixel AUROC and the epoch collector."""

import math

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from anomaly_lab.metrics.video import (
    BinnedAUROC,
    VideoScores,
    auroc,
    average_precision,
    clip_deviation,
    frame_errors,
    median_deviation,
    regularity,
)


def test_frame_errors_are_per_frame_mse():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 4, 1, 5, 5, generator=g), torch.rand(3, 4, 1, 5, 5, generator=g)
    e = frame_errors(x, y)
    assert e.shape == (3, 4)
    assert torch.allclose(e[1, 2], ((x[1, 2] - y[1, 2]) ** 2).mean())
    assert torch.equal(frame_errors(x, x), torch.zeros(3, 4))


def test_regularity_is_one_minus_the_normalised_error():
    e = torch.tensor([[1.0, 3.0, 5.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    r = regularity(e)
    assert torch.allclose(r[0], 1 - (e[0] - 1.0) / 5.0)
    assert r[0].argmin() == e[0].argmax() and float(r[0].max()) == 1.0
    assert torch.equal(r[1], torch.ones(4))  # a perfectly reconstructed clip is all regular


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_ap_match_sklearn_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(500, generator=g) < 0.2).to(torch.int64)
    scores = torch.randint(0, 20, (500,), generator=g).to(torch.float32) + labels * torch.rand(500, generator=g) * 5
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy()), abs=1e-12
    )


def test_unknown_labels_are_left_out_and_one_class_is_nan():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7])
    labels = torch.tensor([0, 1, -1, 0, -1])
    assert auroc(scores, labels) == 1.0 and average_precision(scores, labels) == 1.0
    assert math.isnan(auroc(scores, torch.zeros(5, dtype=torch.int64)))
    assert math.isnan(average_precision(scores, torch.zeros(5, dtype=torch.int64)))
    assert auroc(torch.tensor([[0.2, 0.8], [0.1, 0.4]]), torch.tensor([[0, 1], [0, 0]])) == 1.0  # any shape


def test_binned_pixel_auroc_streams_close_to_the_exact_value():
    g = torch.Generator().manual_seed(3)
    labels = torch.rand(8, 10, 1, 16, 16, generator=g) < 0.05
    scores = (torch.rand(labels.shape, generator=g) * 0.3 + labels * 0.15) ** 2  # squared errors in [0, 1]
    binned = BinnedAUROC(bins=4096)
    for i in range(0, 8, 3):  # in batches
        binned.update(scores[i : i + 3], labels[i : i + 3].to(torch.int64))
    exact = roc_auc_score(labels.flatten().numpy(), scores.flatten().numpy())
    assert binned.compute() == pytest.approx(exact, abs=2e-3)
    assert math.isnan(BinnedAUROC().compute())


def test_video_scores_collects_an_epoch():
    g = torch.Generator().manual_seed(4)
    vs = VideoScores()
    all_e, all_l = [], []
    for _ in range(3):
        labels = (torch.rand(4, 6, generator=g) < 0.3).to(torch.int64)
        errors = torch.rand(4, 6, generator=g) + labels
        masks = torch.zeros(4, 6, 1, 8, 8, dtype=torch.bool)
        masks[..., :2, :2] = labels.bool()[..., None, None, None]
        pixels = torch.rand(4, 6, 1, 8, 8, generator=g) * 0.1 + masks * 0.5
        vs.update(errors, labels, pixels, masks)
        all_e.append(errors)
        all_l.append(labels)
    out = vs.compute()
    e, lab = torch.cat(all_e), torch.cat(all_l)
    assert out["frame_auroc"] == pytest.approx(roc_auc_score(lab.flatten(), e.flatten()))
    assert out["frame_auprc"] == pytest.approx(average_precision_score(lab.flatten(), e.flatten()))
    assert out["regularity_auroc"] == pytest.approx(roc_auc_score(lab.flatten(), (1 - regularity(e)).flatten()))
    assert out["pixel_auroc"] == 1.0  # every masked pixel scores above every other
    unlabelled = VideoScores()
    unlabelled.update(torch.rand(2, 3))
    assert math.isnan(unlabelled.compute()["frame_auroc"]) and "pixel_auroc" not in unlabelled.compute()


def test_clip_deviation_measures_each_frame_against_its_clips_median():
    d = torch.tensor([[[2.0, 10.0], [2.0, 10.0], [4.0, 10.0], [2.0, 5.0]]])  # (1, T=4, K=2)
    # medians (the lower middle of 4 values): 2 and 10
    assert torch.allclose(clip_deviation(d), torch.tensor([[0.0, 0.0, 2.0, 5.0]]))
    scale = torch.tensor([0.5, 2.5])
    assert torch.allclose(clip_deviation(d, scale), torch.tensor([[0.0, 0.0, 4.0, 2.0]]))
    # the scale is the mean distance from the clip median: (0 + 0 + 2 + 0) / 4 and (0 + 0 + 0 + 5) / 4
    assert torch.allclose(median_deviation(d), torch.tensor([0.5, 1.25]))
    # each clip on its own: a second, very different clip changes nothing in the first
    both = torch.cat([d, 100.0 * torch.rand(1, 4, 2)])
    assert torch.equal(clip_deviation(both, scale)[:1], clip_deviation(d, scale))
    with pytest.raises(ValueError, match=r"\(B, T, K\)"):
        clip_deviation(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"scale must be \(2,\)"):
        clip_deviation(d, torch.ones(3))
