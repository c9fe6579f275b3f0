"""The time-series generator: per-sample determinism, labels that match the data, sources, modes."""

import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.timeseries import ALL_KINDS, TimeSeriesGenerator
from anomaly_lab.modalities.timeseries.generator import make_injector


def gen(**kw):
    return TimeSeriesGenerator(**{"length": 128, "channels": 3, "seed": 1, "device": "cpu", **kw})


def test_batch_fields_and_shapes():
    b = gen().generate(torch.arange(6))
    assert b["x"].shape == b["clean"].shape == b["labels"].shape == (6, 128, 3)
    assert b["x"].dtype == torch.float32 and b["labels"].dtype == torch.bool
    assert torch.equal(b["label"], b["labels"].any(-1).long())
    assert torch.equal(b["anomalous"], b["label"].any(-1).long())
    assert b["event_start"].shape == b["event_kind"].shape == (6, 3)


@pytest.mark.parametrize(
    "anomalies",
    [
        None,
        {
            "mode": "seed",
            "ratio": 0.05,
            "noise": 0.3,
            "direction": "both",
            "wave": True,
            "wave_length": 6,
            "kind": "gaussian",
        },
    ],
)
def test_a_sample_is_the_same_in_any_batch(anomalies):
    g = gen(anomalies=anomalies)
    whole = g.generate(torch.arange(12))
    pieces = [g.generate(torch.arange(i, min(12, i + 5))) for i in range(0, 12, 5)]
    alone = g.generate([9])
    for key in whole:
        assert torch.equal(whole[key], torch.cat([p[key] for p in pieces])), key
        assert torch.equal(whole[key][9:10], alone[key]), key
    assert not torch.equal(whole["x"][0], whole["x"][1])
    other = TimeSeriesGenerator(length=128, channels=3, seed=2, device="cpu", anomalies=anomalies).generate([9])
    assert not torch.equal(other["x"], alone["x"])


def test_labels_match_the_data_and_the_events():
    b = gen(length=256, channels=4).generate(torch.arange(64))
    changed = b["x"] != b["clean"]
    assert torch.equal(changed, b["labels"])  # nothing changed unlabelled, nothing labelled unchanged
    for r in range(64):  # per-step labels are the union of the event spans
        span = torch.zeros(256, dtype=torch.bool)
        for s, e, k, c in zip(b["event_start"][r], b["event_end"][r], b["event_kind"][r], b["event_channel"][r]):
            if k >= 0:
                span[s:e] = True
                assert bool(b["labels"][r, s:e, c].all()) if c >= 0 else bool(b["labels"][r, s:e].all())
        assert torch.equal(span, b["label"][r].bool())


def test_exact_positions_and_inject_off():
    g = gen(anomalies={"mode": "kinds", "positions": [{"kind": "platform", "start": 20, "length": 5, "channel": 2}]})
    b = g.generate([0, 1])
    assert b["labels"].nonzero()[:, 1].unique().tolist() == list(range(20, 25))
    assert set(b["labels"].nonzero()[:, 2].tolist()) == {2}
    assert b["event_kind"].tolist() == [[ALL_KINDS.index("platform")]] * 2
    clean = g.generate([0, 1], inject=False)
    assert torch.equal(clean["x"], b["clean"]) and not bool(clean["labels"].any())
    assert (clean["event_kind"].shape[1]) == 0
    none = gen(anomalies={"mode": "none"}).generate([0])
    assert torch.equal(none["x"], none["clean"])


def test_seed_mode_through_the_generator():
    g = gen(anomalies={"mode": "seed", "ratio": 0.05, "noise": 0.5, "direction": "p"})
    b = g.generate(torch.arange(4))
    assert b["label"].sum(1).tolist() == [6, 6, 6, 6]  # int(128 * 0.05)
    lab = b["labels"]
    assert torch.allclose(b["x"][lab], 1.5 * b["clean"][lab])
    assert set(b["event_kind"].flatten().tolist()) == {ALL_KINDS.index("seed_point")}


def test_series_cut_from_a_file(tmp_path):
    n = 300
    path = tmp_path / "s.csv"
    pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=n, freq="h").astype(str),
            "a": np.arange(n, dtype=float),
            "b": np.sin(np.arange(n) / 7),
            "name": ["x"] * n,
        }
    ).to_csv(path, index=False)
    g = TimeSeriesGenerator(
        length=64,
        source={"path": str(path), "key": "date", "columns": []},
        seed=0,
        device="cpu",
        anomalies={"mode": "none"},
    )
    assert g.channels == 2 and g.channel_names == ["a", "b"]
    b = g.generate(torch.arange(8))
    starts = b["clean"][:, 0, 0].long()
    assert torch.equal(
        b["clean"][:, :, 0], starts[:, None] + torch.arange(64, dtype=torch.float32)
    )  # windows of the file
    assert int(starts.max()) <= n - 64 and len(set(starts.tolist())) > 1
    whole = TimeSeriesGenerator(
        length=None, source={"path": str(path), "key": "date", "rows": [100, 200], "normalize": True}, device="cpu"
    ).generate([0])
    assert whole["clean"].shape == (1, 100, 2)
    assert torch.allclose(whole["clean"][0].mean(0), torch.zeros(2), atol=1e-5)
    with pytest.raises(ConfigError, match="rows"):
        TimeSeriesGenerator(source={"path": str(path), "rows": [0, 1000]}, device="cpu")
    with pytest.raises(ConfigError, match="source"):
        TimeSeriesGenerator(source={"path": str(path), "colums": ["a"]}, device="cpu")


def test_mode_errors():
    with pytest.raises(ConfigError, match="anomalies.mode"):
        make_injector({"mode": "gan"})
    with pytest.raises(ConfigError, match="mode=none takes no other options"):
        make_injector({"mode": "none", "ratio": 1})
    with pytest.raises(ConfigError, match="anomalies \\(mode seed\\)"):
        make_injector({"mode": "seed", "ratio": 0.1, "strength": 2})
    with pytest.raises(ConfigError, match="length=null needs a source"):
        TimeSeriesGenerator(length=None, device="cpu")
    with pytest.raises(ConfigError, match="seed"):
        TimeSeriesGenerator(seed=-1, device="cpu")


def test_config_dict_is_plain():
    cfg = gen().config_dict()
    assert cfg["dataset"] == "timeseries" and cfg["length"] == 128 and cfg["source"] is None
    assert cfg["anomalies"]["placement"] == "random" and cfg["kinds"] == list(ALL_KINDS)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 8])
def test_any_channel_is_torch_any_over_the_channels(channels):
    """Any channel anomalous at a step: the bytes-as-one-integer path (2, 4, 8 channels) and the
    one-channel view give torch's any(-1), also on a channel-strided (non-contiguous) tensor."""
    from anomaly_lab.modalities.timeseries.generator import any_channel

    g = torch.Generator().manual_seed(channels)
    labels = torch.rand(6, 300, channels, generator=g) > 0.8
    labels[0] = False  # a series without anomalies
    labels[1] = True
    got = any_channel(labels)
    assert got.dtype == torch.bool and got.shape == (6, 300)
    assert torch.equal(got, labels.any(-1))
    strided = labels.transpose(0, 1).contiguous().transpose(0, 1)
    assert torch.equal(any_channel(strided), labels.any(-1))
