import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.random_anomaly.codec import RandomAnomalyCodec

MEAN, STD = 0.1307, 0.3081


def fake_batch(b=5, t=10, s=50, seed=0):
    """Frames shaped like RandomAnomaly output: pixel values in [0,1] normalised, blank last frame."""
    g = torch.Generator().manual_seed(seed)
    pix = torch.rand(b, t, 1, s, s, generator=g) * (torch.rand(b, t, 1, s, s, generator=g) > 0.7)
    x = torch.cat([(pix - MEAN) / STD, torch.zeros(b, 1, 1, s, s)], dim=1)
    slot = torch.randint(0, t, (b,), generator=g)
    y = torch.zeros(b, t + 1, dtype=torch.int64)
    y[torch.arange(b), slot] = 1
    y[:, -1] = slot
    return {
        "x": x,
        "y": y,
        "index": torch.arange(b),
        "recipe_a": torch.zeros(b, dtype=torch.int64),
        "recipe_b": torch.ones(b, dtype=torch.int64),
        "digit": torch.full((b,), 7),
    }


def parquet_round_trip(table):
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    return buf


def test_published_layout_round_trips_exactly():
    codec = RandomAnomalyCodec()
    batch = fake_batch()
    table = codec.to_table(batch, "published")
    assert table.column_names == ["x", "y"]
    assert table.schema.field("x").type == pa.list_(pa.list_(pa.float32()))
    back = codec.from_table(pq.read_table(parquet_round_trip(table)), {})
    assert torch.equal(back["x"], batch["x"]) and torch.equal(back["y"], batch["y"])
    # pandas sees each row's x as T+1 arrays of 2500 float32, like the published files
    df = pd.read_parquet(parquet_round_trip(table))
    assert len(df.iloc[0]["x"]) == 11 and df.iloc[0]["x"][3].shape == (2500,)
    np.testing.assert_array_equal(df.iloc[2]["x"][4], batch["x"][2, 4, 0].reshape(-1).numpy())


@pytest.mark.parametrize("dtype,tol", [("uint8", 0.5 / 255 / STD + 1e-6), ("float16", 1e-3 / STD)])
def test_compact_layout_is_smaller_and_restores_within_quantisation(dtype, tol):
    codec = RandomAnomalyCodec(frame_dtype=dtype)
    batch = fake_batch(b=8)
    published = codec.to_table(batch, "published")
    compact = codec.to_table(batch, "compact")
    assert compact.nbytes < published.nbytes / (3.5 if dtype == "uint8" else 1.8)
    back = codec.from_table(compact, codec.metadata("compact"))
    assert back["x"].shape == batch["x"].shape
    assert float((back["x"] - batch["x"]).abs().max()) <= tol
    assert torch.equal(back["x"][:, -1], torch.zeros_like(back["x"][:, -1]))  # blank restored exactly
    assert torch.equal(back["y"], batch["y"]) and torch.equal(back["digit"], batch["digit"])


def test_bad_layout_and_dtype_are_config_errors():
    with pytest.raises(ConfigError, match="export.layout='wide'"):
        RandomAnomalyCodec().to_table(fake_batch(), "wide")
    with pytest.raises(ConfigError, match="frame_dtype='int4'"):
        RandomAnomalyCodec(frame_dtype="int4")


def test_tables_without_x_or_with_odd_frames_are_rejected():
    codec = RandomAnomalyCodec()
    with pytest.raises(DataFileError, match="needs 'x' and 'y'"):
        codec.from_table(pa.table({"a": [1]}), {})
    bad = pa.table({"x": [[[0.0, 1.0, 2.0]]], "y": [[0]]})
    with pytest.raises(DataFileError, match="not square"):
        codec.from_table(bad, {})


def test_preview_boxes_the_anomaly(tmp_path):
    codec = RandomAnomalyCodec(recipe_names=["baseline", "blur"])
    batch = fake_batch(b=3)
    path = tmp_path / "p.png"
    codec.preview(batch, str(path))
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.any()
    cell = 50 * 2 + 2 * 2  # frame scaled 2x plus 2-pixel padding on each side
    slots = batch["y"][:, -1].numpy()
    centres = []
    for r in range(3):
        band = red[r * cell : (r + 1) * cell]
        assert 600 < band.sum() < 900  # the outline of exactly one cell (4 sides, 2 px wide)
        centres.append(np.nonzero(band)[1].mean())
    np.testing.assert_allclose(np.array(centres) - centres[0], (slots - slots[0]) * cell, atol=1.0)
