"""MovingMnistGenerator: batch-independent samples, exact labels, the notebook's motion and digits,
every anomaly kind, the mixture and the errors."""

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.splits import split_offset
from anomaly_lab.modalities.moving_mnist import KINDS, MovingMnistGenerator
from anomaly_lab.modalities.moving_mnist.canvas import paste

ALL_KINDS = {k: 1.0 for k in KINDS}
TEST = split_offset("test")


def kind_id(name):
    return 1 + KINDS.index(name)


def test_shapes_dtypes_and_float_output(make_gen):
    g = make_gen(kinds=ALL_KINDS)
    idx = torch.arange(TEST, TEST + 6)
    b = g.generate(idx)
    assert b["frames"].shape == (6, 20, 1, 64, 64) and b["frames"].dtype == torch.uint8
    assert b["frame_labels"].shape == (6, 20) and b["frame_labels"].dtype == torch.int64
    assert b["masks"].shape == (6, 20, 1, 64, 64) and b["masks"].dtype == torch.bool
    assert b["anomaly_kind"].shape == (6,) and b["positions"].shape == (6, 20, 2, 2)
    f = make_gen(kinds=ALL_KINDS, output="float").generate(idx)
    assert f["frames"].dtype == torch.float32 and torch.equal(f["frames"], b["frames"].to(torch.float32) / 255.0)
    small = make_gen(seq_len=7, frame_size=48, digit_size=20, num_digits=3).generate(idx[:2])
    assert small["frames"].shape == (2, 7, 1, 48, 48) and small["positions"].shape == (2, 7, 3, 2)


def test_seeds_give_different_clips(make_gen):
    # that a sample is the same alone and in any batch is checked for every modality in tests/contract
    idx = torch.arange(TEST, TEST + 4)
    assert not torch.equal(make_gen(seed=4).generate(idx)["frames"], make_gen(seed=3).generate(idx)["frames"])


def test_normal_frames_are_representatives_on_the_bouncing_paths(make_gen, mnist_train, pca_table):
    g = make_gen()
    b = g.generate(torch.arange(40))  # train split: no anomalies
    assert int(b["frame_labels"].sum()) == 0 and not bool(b["masks"].any()) and int(b["anomaly_kind"].sum()) == 0
    reps = pca_table.representatives[b["clusters"]]
    assert set(b["clusters"].flatten().tolist()) <= set(pca_table.usable.tolist())
    assert torch.equal(b["digit_labels"], mnist_train.labels[reps])
    sprites = mnist_train.images[reps][:, None].expand(-1, 20, -1, -1, -1)
    redrawn = paste(sprites.reshape(-1, 2, 28, 28), b["positions"].reshape(-1, 2, 2), 64)
    assert torch.equal(redrawn.view(40, 20, 1, 64, 64), b["frames"])
    pos = b["positions"]
    assert int(pos.min()) >= -2 and int(pos.max()) <= 38
    step = (pos[:, 1:] - pos[:, :-1]).abs()
    assert int(step.max()) <= 7  # truncation moves a position by at most speed + 1 (speed <= 6)
    # the option: any member of the cluster with the representative's label
    members = make_gen(normal_digits="member").generate(torch.arange(40))
    assert torch.equal(members["digit_labels"], pca_table.representative_labels[members["clusters"]])
    assert torch.equal(members["positions"], b["positions"]) and not torch.equal(members["frames"], b["frames"])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "speed"])
def test_labels_are_exactly_the_changed_pixels(make_gen, kind):
    g = make_gen(kinds=kind, anomaly_fraction=1.0, both_digits_prob=0.25)
    idx = torch.arange(TEST, TEST + 64)
    b = g.generate(idx)
    normal = g.with_anomaly_fraction(0.0).generate(idx)
    assert torch.equal(b["masks"], b["frames"] != normal["frames"])
    assert torch.equal(b["frame_labels"], b["masks"].flatten(2).any(-1).to(torch.int64))
    anomalous = b["frame_labels"].any(1)
    assert float(anomalous.float().mean()) > 0.9  # almost every planned change shows
    assert bool((b["anomaly_kind"][anomalous] == kind_id(kind)).all()) and int(b["anomaly_kind"][~anomalous].sum()) == 0
    # unaffected digits keep their path; normal sequences are untouched
    keep = ~b["affected_digits"]
    assert torch.equal(
        b["positions"][keep[:, None].expand(-1, 20, -1)], normal["positions"][keep[:, None].expand(-1, 20, -1)]
    )


def test_replacement_is_a_same_cluster_digit_of_another_label(make_gen, mnist_train, pca_table):
    g = make_gen(kinds="replace", anomaly_fraction=1.0, anomaly_frames=[5], seq_len=10)
    idx = torch.arange(TEST, TEST + 30)
    b, normal = g.generate(idx), g.with_anomaly_fraction(0.0).generate(idx)
    assert torch.equal(b["positions"], normal["positions"])  # the replacement follows the same path
    assert int(b["frame_labels"][:, [k for k in range(10) if k != 5]].sum()) == 0
    assert int(b["affected_digits"].sum()) == 30  # one digit per sequence (both_digits_prob=0)
    for i in range(30):  # check each sequence against the table (a test, not a hot path)
        d = int(b["affected_digits"][i].to(torch.int64).argmax())
        c = int(b["clusters"][i, d])
        other = mnist_train.images[pca_table.representatives[int(b["clusters"][i, 1 - d])]]
        candidates = pca_table.candidates[c, : pca_table.candidate_counts[c]].tolist()
        matches = []
        for r in candidates:  # the frame is one candidate of the cluster pasted with the other digit
            pair = [mnist_train.images[r], other] if d == 0 else [other, mnist_train.images[r]]
            if torch.equal(paste(torch.stack(pair)[None], b["positions"][i, 5][None], 64)[0], b["frames"][i, 5, 0]):
                matches.append(r)
        assert matches, f"sequence {i}: frame 5 is not a candidate of cluster {c}"
        assert all(int(mnist_train.labels[r]) != int(b["digit_labels"][i, d]) for r in matches)


def test_random_runs_of_one_to_three_inner_frames(make_gen):
    g = make_gen(kinds="vanish", anomaly_fraction=1.0, run_length=(1, 3))
    b = g.generate(torch.arange(TEST, TEST + 300))
    lab = b["frame_labels"]
    runs = lab.sum(1)
    assert set(runs.tolist()) == {1, 2, 3}
    first = lab.argmax(1)
    t = torch.arange(20)
    contiguous = (t[None] >= first[:, None]) & (t[None] < (first + runs)[:, None])
    assert torch.equal(contiguous.to(torch.int64), lab)
    assert int(lab[:, 0].sum()) == 0 and int(lab[:, -1].sum()) == 0  # never the first or last frame
    long = make_gen(kinds="vanish", anomaly_fraction=1.0, run_length=(4, 4)).generate(torch.arange(TEST, TEST + 20))
    assert set(long["frame_labels"].sum(1).tolist()) == {4}


def test_fractions_by_split_and_kind_mixture(make_gen):
    small = dict(seq_len=3, anomaly_frames=[1], frame_size=32, digit_size=16)  # the draws do not depend on sizes
    g = make_gen(kinds={"replace": 3.0, "vanish": 1.0}, **small)
    n = 2000
    for split, want in (("train", 0.0), ("val", 0.5), ("test", 0.5)):
        idx = torch.arange(split_offset(split), split_offset(split) + n)
        kinds = g.generate(idx)["anomaly_kind"]
        assert abs(float((kinds > 0).float().mean()) - want) < 0.04, split
    kinds = kinds[kinds > 0]
    share = float((kinds == kind_id("replace")).float().mean())
    assert abs(share - 0.75) < 0.05 and set(kinds.unique().tolist()) == {kind_id("replace"), kind_id("vanish")}
    assert g.config_dict()["kinds"] == {"replace": 0.75, "vanish": 0.25}
    one = make_gen(anomaly_fraction=0.2, **small).generate(torch.arange(n))["anomaly_kind"]
    assert abs(float((one > 0).float().mean()) - 0.2) < 0.04


def test_motion_anomalies_move_the_digit(make_gen):
    idx = torch.arange(TEST, TEST + 64)
    jump = make_gen(kinds="jump", anomaly_fraction=1.0, jump_distance=(12.0, 12.0))
    b, normal = jump.generate(idx), jump.with_anomaly_fraction(0.0).generate(idx)
    moved = (b["positions"] - normal["positions"]).abs().amax(-1)  # (B, T, D)
    planned = b["frame_labels"].bool()[..., None] & b["affected_digits"][:, None]
    assert bool((moved[~planned] == 0).all())
    assert bool((moved[planned] >= 8).all())  # 12 px at any angle moves one axis by >= 12/sqrt(2), less clamping
    speed = make_gen(kinds="speed", anomaly_fraction=1.0, speed_factor=(3.0, 3.0))
    s, sn = speed.generate(idx), speed.with_anomaly_fraction(0.0).generate(idx)
    lab = s["frame_labels"].bool()
    assert torch.equal(s["masks"][lab], (s["frames"] != sn["frames"])[lab])
    first = lab.to(torch.int64).argmax(1)
    rows = torch.nonzero(lab.any(1)).flatten()
    before = torch.arange(20)[None] < first[:, None]
    assert torch.equal(s["frames"][before], sn["frames"][before])  # identical up to the change
    # the step into the first anomalous frame is three times the normal step (before any wall)
    d = s["affected_digits"].to(torch.int64).argmax(1)
    got = (s["positions"][rows, first[rows], d[rows]] - s["positions"][rows, first[rows] - 1, d[rows]]).abs().sum(-1)
    usual = (
        (sn["positions"][rows, first[rows], d[rows]] - sn["positions"][rows, first[rows] - 1, d[rows]]).abs().sum(-1)
    )
    assert float(got.float().mean()) > 2.0 * float(usual.float().mean())


def test_blur_and_erase_keep_the_digit_in_place(make_gen):
    idx = torch.arange(TEST, TEST + 32)
    for kind in ("blur", "erase"):
        g = make_gen(kinds=kind, anomaly_fraction=1.0)
        b, normal = g.generate(idx), g.with_anomaly_fraction(0.0).generate(idx)
        assert torch.equal(b["positions"], normal["positions"])
        lab = b["frame_labels"].bool()
        ink = b["frames"][lab].to(torch.int64).sum()
        if kind == "erase":
            assert bool((b["frames"][lab] <= normal["frames"][lab]).all())  # erasing only removes ink
            assert int(ink) < int(normal["frames"][lab].to(torch.int64).sum())
        else:  # blurring spreads ink: more pixels lit, similar total
            assert int((b["frames"][lab] > 0).sum()) > int((normal["frames"][lab] > 0).sum())


def test_bad_settings_are_clear_errors(make_gen):
    with pytest.raises(ConfigError, match="anomaly kind 'glitch' is not known"):
        make_gen(kinds={"glitch": 1.0})
    with pytest.raises(ConfigError, match="gives no kind a positive weight"):
        make_gen(kinds={"replace": 0.0})
    with pytest.raises(ConfigError, match=r"anomaly_frames=\[20\] must be a non-empty list of frames in \[0, 19\]"):
        make_gen(anomaly_frames=[20])
    with pytest.raises(ConfigError, match="run_length=\\[1, 9\\] leaves no room in seq_len=10"):
        make_gen(seq_len=10, run_length=(1, 9))
    with pytest.raises(ConfigError, match="speed=\\[6, 2\\] has low > high"):
        make_gen(speed=(6, 2))
    with pytest.raises(
        ConfigError, match=r"speed=\[2, 6\] is too fast for frame_size=20, digit_size=16, margin=2: .* at most 4"
    ):
        make_gen(frame_size=20, digit_size=16)
    with pytest.raises(ConfigError, match="normal_digits='medoid'"):
        make_gen(normal_digits="medoid")
    with pytest.raises(ConfigError, match="anomaly_fraction.test=1.5"):
        make_gen(anomaly_fraction={"test": 1.5})
    with pytest.raises(ConfigError, match=r"similarity options \['k'\] are not known"):
        MovingMnistGenerator(similarity={"k": 3}, device="cpu")
    with pytest.raises(ConfigError, match="similarity.method='umap'"):
        MovingMnistGenerator(similarity={"method": "umap"}, device="cpu")


def test_builds_its_table_lazily_from_options(mnist_train, tmp_path):
    g = MovingMnistGenerator(
        source=mnist_train,
        similarity={"method": "pca_kmeans", "n_clusters": 10, "subset": 500, "n_init": 1, "cache_dir": str(tmp_path)},
        device="cpu",
    )
    assert g._shared["table"] is None  # nothing built at construction (configs instantiate quickly)
    b = g.generate(torch.arange(3))
    table = g.table
    assert table.assignments.shape == (500,) and int(table.representatives.max()) < 500
    assert set(b["clusters"].flatten().tolist()) <= set(table.usable.tolist())
    summary = g.config_dict()
    assert summary["similarity"]["method"] == "pca_kmeans" and summary["anomaly_fraction"] == {
        "train": 0.0,
        "val": 0.5,
        "test": 0.5,
    }


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(mnist_train, pca_table):
    idx = torch.arange(32) + split_offset("test")
    cpu = MovingMnistGenerator(source=mnist_train, similarity=pca_table, device="cpu", seed=3).generate(idx)
    cuda = MovingMnistGenerator(source=mnist_train, similarity=pca_table, device="cuda", seed=3).generate(idx.cuda())
    assert cuda["frames"].device.type == "cuda"
    for key in ("frames", "frame_labels", "masks", "anomaly_kind", "positions"):  # integer pastes: exact
        assert torch.equal(cpu[key], cuda[key].cpu()), key
