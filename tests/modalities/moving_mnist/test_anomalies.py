"""The registry of Moving MNIST anomaly kinds: stable ids, docs that list every kind, kind parameters
as generator options, the mirrored digit, and a kind added by one function and one decorator line."""

import re

import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.splits import split_offset
from anomaly_lab.modalities.moving_mnist import anomalies as A
from anomaly_lab.modalities.moving_mnist.canvas import paste
from tests.conftest import REPO_ROOT

TEST = split_offset("test")


def test_ids_are_registration_positions_and_never_move():
    # exported anomaly_kind values are 1 + these positions: new kinds are appended, never inserted
    assert tuple(A.KINDS) == A.ANOMALY_KINDS.names
    assert A.ANOMALY_KINDS.names[:7] == ("replace", "jump", "speed", "vanish", "blur", "erase", "flip")
    assert A.KINDS[5] == "erase" and A.KINDS.index("flip") == 6 and ",".join(A.KINDS).startswith("replace,jump,")
    assert {p: k for p, (k, _) in A.kind_parameters().items()}.items() >= {
        "jump_distance": "jump",
        "speed_factor": "speed",
        "blur_sigma": "blur",
        "erase_size": "erase",
    }.items()


def test_docs_list_every_registered_kind_with_its_summary():
    with open(f"{REPO_ROOT}/docs/video.md") as f:
        text = f.read()
    rows = dict(re.findall(r"^\| `(\w+)`(?: \(the seed's\))? \| (.+) \|$", text, flags=re.M))
    for name, entry in A.ANOMALY_KINDS.items():
        assert rows.get(name) == entry.summary, f"docs/video.md: row for {name!r} should read: {entry.summary}"
    assert f"`{', '.join(A.KINDS)}` (the registry's order)" in text


def test_kind_options_are_checked_against_the_registry(make_gen):
    with pytest.raises(ConfigError, match=r"options \['jump_size'\] are not known; .*'jump_distance'"):
        make_gen(jump_size=(1, 2))
    with pytest.raises(ConfigError, match=r"erase_size=\[0.5, 1.5\] must lie in \[0.05, 1.0\] \(a share"):
        make_gen(erase_size=(0.5, 1.5))
    with pytest.raises(ConfigError, match=r"blur_sigma=\[3.0, 1.0\] has low > high"):
        make_gen(blur_sigma=(3.0, 1.0))
    with pytest.raises(ConfigError, match=r"Moving MNIST anomaly kind 'mirror' is not known; choose one of \["):
        make_gen(kinds=["mirror"])
    g = make_gen(jump_distance=12)
    assert g.kind_params["jump_distance"] == (12, 12) and g.kind_params["erase_size"] == (0.4, 0.6)
    assert [k for k in g.config_dict() if k in A.kind_parameters()] == list(A.kind_parameters())


def test_flip_draws_the_mirrored_digit_in_place(make_gen):
    g = make_gen(kinds="flip", anomaly_fraction=1.0, anomaly_frames=[4], seq_len=8)
    idx = torch.arange(TEST, TEST + 40)
    b, normal = g.generate(idx), g.with_anomaly_fraction(0.0).generate(idx)
    assert torch.equal(b["positions"], normal["positions"])
    shown = b["frame_labels"].any(1)
    assert float(shown.float().mean()) > 0.9
    assert bool((b["anomaly_kind"][shown] == 1 + A.KINDS.index("flip")).all())
    assert int(b["frame_labels"][:, [t for t in range(8) if t != 4]].sum()) == 0
    # frame 4 is the normal digits pasted again with the affected one mirrored
    sprites = g._shared["bank"][g.table.representatives[b["clusters"]]]  # (B, D, S, S)
    sprites = torch.where(b["affected_digits"][..., None, None], sprites.flip(-1), sprites)
    assert torch.equal(paste(sprites, b["positions"][:, 4], 64), b["frames"][:, 4, 0])
    # the mirror keeps the ink where no digit overlaps another: total ink of frame 4 is unchanged up to saturation
    ink, ink_normal = b["frames"][:, 4].to(torch.int64).sum(), normal["frames"][:, 4].to(torch.int64).sum()
    assert abs(int(ink) - int(ink_normal)) <= 0.02 * int(ink_normal)


def test_a_kind_is_one_function_and_one_decorator_line(make_gen, monkeypatch):
    """The walk-through: a kind registered with its parameter runs through the generator unchanged."""
    monkeypatch.setattr(A.ANOMALY_KINDS, "_entries", dict(A.ANOMALY_KINDS._entries))  # undone after the test

    @A.kind("dim", "the digit is drawn at `dim_level` of its brightness", dim_level=A.Span((0.5, 0.5), least=0.0))
    def dim(scene, dim_level):
        return A.Change(sprites=(scene.sprites.to(torch.float32) * dim_level[0]).round().to(torch.uint8))

    g = make_gen(kinds={"dim": 1.0}, anomaly_fraction=1.0, dim_level=(0.25, 0.25))
    idx = torch.arange(TEST, TEST + 16)
    b, normal = g.generate(idx), g.with_anomaly_fraction(0.0).generate(idx)
    assert set(b["anomaly_kind"].tolist()) <= {0, len(A.ANOMALY_KINDS)} and bool(b["anomaly_kind"].any())
    assert torch.equal(b["masks"], b["frames"] != normal["frames"])
    assert g.config_dict()["dim_level"] == [0.25, 0.25]
    assert bool((b["frames"][b["frame_labels"].bool()] <= normal["frames"][b["frame_labels"].bool()]).all())
