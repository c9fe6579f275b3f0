import threading

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.loading.indexed import GeneratedDataset
from anomaly_lab.modalities.random_anomaly.generator import RandomAnomalyGenerator
from anomaly_lab.sources import load_source

BG = -0.1307 / 0.3081


@pytest.fixture(scope="module")
def gen():
    return RandomAnomalyGenerator(seed=1, device="cpu")


def test_batch_shapes_labels_and_blank_frame(gen):
    b = gen.generate(torch.arange(64))
    assert b["x"].shape == (64, 11, 1, 50, 50) and b["x"].dtype == torch.float32
    assert b["y"].shape == (64, 11) and b["y"].dtype == torch.int64
    y = b["y"]
    assert torch.equal(y[:, :10].sum(1), torch.ones(64, dtype=torch.int64))
    assert torch.equal(y[:, :10].argmax(1), y[:, 10])
    assert bool((b["x"][:, 10] == 0).all())  # blank: zeros in normalised space (flat grey)
    assert abs(float(b["x"][:, :10].min()) - BG) < 1e-5 and float(b["x"].max()) <= (1 - 0.1307) / 0.3081 + 1e-5
    assert bool((b["recipe_a"] != b["recipe_b"]).all())


def _assert_same(a, b):
    assert torch.equal(a["y"], b["y"])
    assert float((a["x"] - b["x"]).abs().max()) <= 1e-6


def test_sample_is_the_same_alone_or_in_a_chunked_batch_of_512(gen):
    # tests/contract checks every modality at batch 64 and in workers; 512 crosses cpu_chunk (256)
    idx = torch.arange(2000, 2512)
    big = gen.generate(idx)
    for i in (0, 7, 300, 511):
        alone = gen.generate(idx[i : i + 1])
        _assert_same({k: v[i : i + 1] for k, v in big.items()}, alone)
    perm = torch.randperm(512)
    shuffled = gen.generate(idx[perm])
    _assert_same({k: v[perm] for k, v in big.items()}, shuffled)


def test_splits_and_seeds_give_different_data():
    a = RandomAnomalyGenerator(seed=1, device="cpu")
    b = RandomAnomalyGenerator(seed=2, device="cpu")
    ia, ib = a.generate(torch.arange(32)), b.generate(torch.arange(32))
    assert not torch.equal(ia["y"], ib["y"])
    assert float((ia["x"] - ib["x"]).abs().mean()) > 0.1
    train = GeneratedDataset(a, "train", size=8).__getitems__(range(8))
    test = GeneratedDataset(a, "test", size=8).__getitems__(range(8))
    assert float((train["x"] - test["x"]).abs().mean()) > 0.1


def test_recipe_pairs_and_slots_are_uniform():
    small = RandomAnomalyGenerator(seq_len=10, image_size=8, seed=1, device="cpu")
    b = small.generate(torch.arange(20_000, 31_200))
    pair = b["recipe_a"] * 8 + b["recipe_b"]
    counts = torch.bincount(pair, minlength=64).reshape(8, 8)
    assert bool((counts.diagonal() == 0).all())
    off = counts[~torch.eye(8, dtype=torch.bool)].float()  # 56 ordered pairs, 200 expected each
    assert float(((off - 200) ** 2 / 200).sum()) < 55 + 5 * (2 * 55) ** 0.5
    slots = torch.bincount(b["y"][:, 10], minlength=10).float()
    assert float(((slots - 1120) ** 2 / 1120).sum()) < 9 + 5 * 18**0.5


def test_class_modes():
    src = load_source("bundled", "train", device="cpu")
    g = RandomAnomalyGenerator(src, seed=0, device="cpu")
    idx = torch.tensor([0, 1, 2, 4005, 8001])
    assert torch.equal(g.generate(idx)["digit"], src.labels[idx % len(src)])
    u = RandomAnomalyGenerator(src, seed=0, device="cpu", class_mode="uniform").generate(torch.arange(5000))["digit"]
    assert float(torch.bincount(u, minlength=10).float().std()) < 40  # ~500 each


def test_every_frame_shows_the_sequence_digit():
    # with two no-op recipes every frame is one resized source image of the sequence's class
    src = load_source("bundled", "train", device="cpu")
    g = RandomAnomalyGenerator(
        src, recipes=["baseline", {"name": "copy", "ops": []}], seed=3, device="cpu", faithful_8bit=False
    )  # the float path: frames equal the float resize below
    b = g.generate(torch.arange(6))
    from anomaly_lab.synth.geometry import resize

    bank = ((resize(src.images.unsqueeze(1).float() / 255, 50) - 0.1307) / 0.3081).flatten(1)
    frames = b["x"][:, :10].flatten(2)  # (6, 10, 2500)
    # nearest source image of each frame (exact distances: the matmul shortcut loses ~0.1 to cancellation)
    dist = torch.cdist(frames.reshape(60, -1), bank, compute_mode="donot_use_mm_for_euclid_dist")
    best = dist.min(1)
    assert float(best.values.max()) < 1e-3
    assert torch.equal(src.labels[best.indices].reshape(6, 10), b["digit"][:, None].expand(6, 10))
    # the ten frames are independent draws: not all the same image
    assert all(len(set(best.indices.reshape(6, 10)[i].tolist())) > 5 for i in range(6))


def test_anomaly_probability():
    g = RandomAnomalyGenerator(seed=0, device="cpu", anomaly_prob=0.3)
    y = g.generate(torch.arange(4000))["y"]
    normal = y[:, :10].sum(1) == 0
    assert abs(float(normal.float().mean()) - 0.7) < 0.03
    assert bool((y[normal, 10] == 10).all())
    assert bool((y[~normal, :10].sum(1) == 1).all())
    none = RandomAnomalyGenerator(seed=0, device="cpu", anomaly_prob=0.0).generate(torch.arange(50))["y"]
    assert bool((none[:, 10] == 10).all())


def test_paper_length_and_other_sizes():
    g = RandomAnomalyGenerator(seq_len=9, image_size=32, seed=0, device="cpu")
    b = g.generate(torch.arange(4))
    assert b["x"].shape == (4, 10, 1, 32, 32) and b["y"].shape == (4, 10)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"seq_len": 1}, "seq_len=1"),
        ({"image_size": 4}, "image_size=4"),
        ({"anomaly_prob": 1.5}, "anomaly_prob=1.5"),
        ({"anomaly_prob": -0.1}, "anomaly_prob=-0.1"),
        ({"class_mode": "by_label"}, "class_mode='by_label'"),
        ({"recipes": ["baseline"]}, "at least 2"),
        ({"recipes": ["baseline", "swirl"]}, "recipe='swirl'"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, needle):
    with pytest.raises(ConfigError) as err:
        RandomAnomalyGenerator(**kwargs)
    assert needle in str(err.value)


def test_config_dict_round_trips_the_settings(gen):
    cfg = gen.config_dict()
    assert cfg["seed"] == 1 and cfg["seq_len"] == 10 and cfg["source"] == "bundled-mnist5k/train"
    assert [r["name"] for r in cfg["recipes"]][:2] == ["baseline", "perspective_small"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(gen):
    idx = torch.arange(64)
    cpu = gen.generate(idx)
    cuda = RandomAnomalyGenerator(seed=1, device="cuda").generate(idx.cuda())
    assert cuda["x"].device.type == "cuda"
    for key in ("y", "recipe_a", "recipe_b", "digit"):  # integer draws: the same bits on any device
        assert torch.equal(cpu[key], cuda[key].cpu()), key
    diff = (cpu["x"] - cuda["x"].cpu()).abs()
    # float kernels (grid_sample, blur) may round differently: almost every pixel agrees to 1e-4
    assert float((diff > 1e-4).float().mean()) < 1e-3 and float(diff.max()) < 0.05


def test_generate_writes_x_into_a_given_buffer(gen):
    idx = torch.arange(40, 44)
    fresh = gen.generate(idx)
    buf = torch.full_like(fresh["x"], float("nan"))
    got = gen.generate(idx, out={"x": buf})
    assert got["x"].data_ptr() == buf.data_ptr() and torch.equal(buf, fresh["x"])
    wrong = torch.empty(5, *fresh["x"].shape[1:])  # a buffer of the wrong size is left alone
    assert gen.generate(idx, out={"x": wrong})["x"].data_ptr() != wrong.data_ptr()


@pytest.mark.parametrize("n", [4, 130])  # one part, and a CPU batch made in parts
def test_batches_are_ordinary_tensors_that_training_can_use(gen, n):
    """generate works in inference mode inside; what it returns must still go into an autograd graph."""
    b = gen.generate(torch.arange(n))
    assert not any(torch.is_inference(v) for v in b.values())
    w = torch.zeros(b["x"][0, 0].numel(), int(b["y"].max()) + 1, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(b["x"][:, 0].flatten(1) @ w, b["y"][:, -1])
    loss.backward()
    assert w.grad is not None and float(w.grad.abs().sum()) > 0


def test_faithful_8bit_is_recorded_and_off_gives_the_float_path():
    src = load_source("bundled", "train", device="cpu")
    two = ["baseline", "perspective_small"]
    on = RandomAnomalyGenerator(src, seed=2, device="cpu", recipes=two)
    off = RandomAnomalyGenerator(src, seed=2, device="cpu", recipes=two, faithful_8bit=False)
    assert on.config_dict()["faithful_8bit"] is True
    assert on.config_dict()["recipes"][1]["ops"][0]["eight_bit"] is True
    # the float path's settings read exactly as before the option (so its export fingerprint stays)
    assert "faithful_8bit" not in off.config_dict() and "eight_bit" not in str(off.config_dict())
    a, b = on.generate(torch.arange(40)), off.generate(torch.arange(40))
    assert torch.equal(a["y"], b["y"])  # the same draws; only the pixel values differ
    levels = a["x"][:, :10] * 0.3081 + 0.1307  # back to [0, 1]: every frame is on the 8-bit grid
    assert float((levels * 255 - (levels * 255).round()).abs().max()) < 2e-3
    assert float((a["x"] - b["x"]).abs().max()) > 1e-3
    with pytest.raises(ConfigError, match="faithful_8bit"):
        RandomAnomalyGenerator(src, faithful_8bit="yes")


def test_a_returned_batch_is_never_overwritten(gen):
    """generate reuses its last x only once nothing holds it: a kept batch, a kept view or a numpy
    array of it keeps its values through later calls."""
    first = gen.generate(torch.arange(8))
    kept, copy = first["x"], first["x"].clone()
    view = gen.generate(torch.arange(8, 16))["x"][2:5]
    view_copy = view.clone()
    as_numpy = gen.generate(torch.arange(16, 24))["x"].numpy()
    numpy_copy = as_numpy.copy()
    del first
    for k in range(3):
        gen.generate(torch.arange(100 + 8 * k, 108 + 8 * k))
    assert torch.equal(kept, copy) and torch.equal(view, view_copy) and (as_numpy == numpy_copy).all()
    dropped = gen.generate(torch.arange(8))["x"].data_ptr()
    assert gen.generate(torch.arange(8, 16))["x"].data_ptr() == dropped  # nothing held it: reused


def test_subnormal_setting_is_restored(gen):
    tiny = torch.tensor([1e-39])
    gen.generate(torch.arange(4))
    assert float(tiny * 1.0) != 0.0  # flushing was on only while the batch was made


def test_parts_on_two_threads_equal_one_thread_bit_for_bit_with_subnormals_flushed_on_each(gen, monkeypatch):
    """A batch of 512 is two parts of 256; with two intra-op threads they run side by side
    (core.threads.map_parts), each thread flushing subnormals itself."""
    before = torch.get_num_threads()
    idx = torch.arange(5000, 5512)
    try:
        torch.set_num_threads(1)
        serial = {k: v.clone() for k, v in gen.generate(idx).items()}
        torch.set_num_threads(2)
        shared = gen.generate(idx)
        seen = []
        make = RandomAnomalyGenerator._generate

        def spy(self, part_idx, x):
            seen.append((threading.get_ident(), float(torch.tensor([1e-39]) * 1.0) == 0.0, torch.get_num_threads()))
            return make(self, part_idx, x)

        monkeypatch.setattr(RandomAnomalyGenerator, "_generate", spy)
        gen.generate(idx)
    finally:
        torch.set_num_threads(before)
    assert set(serial) == set(shared) and all(torch.equal(serial[k], shared[k]) for k in serial)
    assert len({t for t, _, _ in seen}) == 2 and all(flushed and n == 1 for _, flushed, n in seen)
