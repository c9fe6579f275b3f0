"""UCSD Ped1/Ped2-style folders: clips, resizing, labels from the masks, unknown labels, and errors
that name the bad file. Every test writes its own tiny folder."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from anomaly_lab.core.errors import ConfigError, DataFileError
from anomaly_lab.modalities.moving_mnist.ucsd import UcsdClips, read_grey
from anomaly_lab.synth.geometry import resize

H, W = 12, 16


def frame(video: int, t: int) -> np.ndarray:
    """A recognisable frame: a gradient plus the video and frame number."""
    img = (np.arange(H * W).reshape(H, W) % 200).astype(np.uint8)
    img[0, 0], img[0, 1] = video, t
    return img


def write_folder(root, train=(12, 10), test=(10, 10), masked=(4, 5, 6), gt_prefix="", gt_for=(0,)):
    for v, n in enumerate(train):
        d = root / "Train" / f"Train{v + 1:03d}"
        d.mkdir(parents=True)
        for t in range(n):
            Image.fromarray(frame(v, t)).save(d / f"{t + 1:03d}.tif")
    for v, n in enumerate(test):
        d = root / "Test" / f"Test{v + 1:03d}"
        d.mkdir(parents=True)
        for t in range(n):
            Image.fromarray(frame(10 + v, t)).save(d / f"{t + 1:03d}.tif")
        if v in gt_for:
            gt = root / "Test" / f"Test{v + 1:03d}_gt"
            gt.mkdir()
            for t in range(n):
                mask = np.zeros((H, W), dtype=np.uint8)
                if t in masked:
                    mask[2:5, 3:7] = 255
                Image.fromarray(mask).save(gt / f"{gt_prefix}{t + 1:03d}.bmp")
    return root


def test_train_clips_frames_and_resizing(tmp_path):
    root = write_folder(tmp_path)
    ds = UcsdClips(str(root), "train", clip_len=5, size=8)
    assert len(ds) == 2 + 2  # 12 frames -> 2 clips (the tail is dropped), 10 -> 2
    assert ds.clips.tolist() == [[0, 0], [0, 5], [1, 0], [1, 5]]
    b = ds.__getitems__([1, 2])
    assert b["frames"].shape == (2, 5, 1, 8, 8) and b["frames"].dtype == torch.float32
    want = resize(torch.from_numpy(np.stack([frame(0, t) for t in range(5, 10)]))[:, None].float(), 8) / 255.0
    assert torch.allclose(b["frames"][0], want.clamp(0, 1))
    assert torch.equal(b["frame_labels"], torch.zeros(2, 5, dtype=torch.int64))  # training videos are normal
    assert b["video"].tolist() == [0, 1] and b["start"].tolist() == [5, 0]
    overlapping = UcsdClips(str(root), "train", clip_len=5, stride=2, size=None)
    assert len(overlapping) == 4 + 3 and overlapping[0]["frames"].shape == (5, 1, H, W)
    assert int(round(float(overlapping[0]["frames"][1, 0, 0, 1]) * 255)) == 1  # frame 2 of video 1, full size


def test_test_labels_come_from_the_masks(tmp_path):
    root = write_folder(tmp_path)
    ds = UcsdClips(str(root), "test", clip_len=5, size=None)
    b = ds.__getitems__(list(range(len(ds))))
    assert b["frame_labels"][0].tolist() == [0, 0, 0, 0, 1] and b["frame_labels"][1].tolist() == [1, 1, 0, 0, 0]
    assert int(b["masks"][0, 4].sum()) == 12 and bool(b["masks"][0, 4, 0, 2:5, 3:7].all())
    assert torch.equal(b["frame_labels"][2:], torch.full((2, 5), -1))  # Test002 has no _gt folder: unknown
    small = UcsdClips(str(root), "test", clip_len=5, size=6).__getitems__([0])
    assert small["masks"].shape == (1, 5, 1, 6, 6) and small["frame_labels"][0].tolist() == [0, 0, 0, 0, 1]


def test_ped2_mask_names(tmp_path):
    root = write_folder(tmp_path, gt_prefix="frame", masked=(0,))
    b = UcsdClips(str(root), "test", clip_len=10).__getitems__([0])
    assert b["frame_labels"][0].tolist() == [1] + [0] * 9


def test_unreadable_frame_is_named(tmp_path):
    root = write_folder(tmp_path)
    bad = root / "Train" / "Train002" / "003.tif"
    bad.write_bytes(b"not an image")
    ds = UcsdClips(str(root), "train", clip_len=5)
    ds.__getitems__([0])  # other clips still read
    with pytest.raises(DataFileError, match=f"frame file {bad} is unreadable"):
        ds.__getitems__([2])
    with pytest.raises(DataFileError, match="is missing"):
        read_grey(str(root / "nope.tif"))


def test_missing_frames_masks_and_folders_are_named(tmp_path):
    root = write_folder(tmp_path / "a")
    os.remove(root / "Train" / "Train001" / "007.tif")
    with pytest.raises(
        DataFileError, match=r"frame file .*Train001/007.tif is missing \(1 missing between 001.tif and 012.tif\)"
    ):
        UcsdClips(str(root), "train", clip_len=5)
    root = write_folder(tmp_path / "b")
    os.remove(root / "Test" / "Test001_gt" / "008.bmp")
    with pytest.raises(DataFileError, match=r"mask for frame .*Test001/008.tif is missing from .*Test001_gt"):
        UcsdClips(str(root), "test", clip_len=5)
    with pytest.raises(DataFileError, match="Train not found; data.root must hold Train/ and Test/"):
        UcsdClips(str(tmp_path / "empty"), "train")
    with pytest.raises(DataFileError, match="has 10 frames for one clip|no video under .* has 20 frames"):
        UcsdClips(str(root), "train", clip_len=20)
    with pytest.raises(ConfigError, match="data.split='val'"):
        UcsdClips(str(root), "val")
    (root / "Train" / "Train003").mkdir()
    with pytest.raises(DataFileError, match="Train003 has no frames"):
        UcsdClips(str(root), "train")


def test_a_header_that_declares_a_huge_frame_is_refused_before_decoding(tmp_path):
    root = write_folder(tmp_path)
    mask = root / "Test" / "Test001_gt" / "005.bmp"
    data = bytearray(mask.read_bytes())  # a BMP's width and height are int32s at bytes 18 and 22
    for w, h in ((10000, 5000), (30000, 20000)):  # under and over Pillow's own bomb limit (179 million)
        data[18:22] = w.to_bytes(4, "little", signed=True)
        data[22:26] = h.to_bytes(4, "little", signed=True)
        mask.write_bytes(bytes(data))  # a file of a few hundred bytes asking for 50 or 600 million pixels
        with pytest.raises(DataFileError, match=rf"^mask file {mask} declares .*at most 16777216 .*read$"):
            read_grey(str(mask), "mask file")
    with pytest.raises(DataFileError, match=rf"^mask file {mask} declares too many pixels"):
        UcsdClips(str(root), "test", clip_len=5).__getitems__([0])
    data[18:26] = (10000).to_bytes(4, "little") + (5000).to_bytes(4, "little")
    mask.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=rf"^mask file {mask} declares 10000 x 5000 pixels; at most 16777216"):
        UcsdClips(str(root), "test", clip_len=5).__getitems__([0])


def test_only_the_expected_image_formats_are_decoded(tmp_path):
    root = write_folder(tmp_path)
    bad = root / "Train" / "Train001" / "002.tif"
    Image.fromarray(frame(0, 1)).save(bad, format="GIF")  # a readable image, but not a format of these folders
    with pytest.raises(DataFileError, match=rf"^frame file {bad} is unreadable \(not a TIFF, PNG, JPEG, BMP image\)$"):
        UcsdClips(str(root), "train", clip_len=5).__getitems__([0])


def test_damaged_and_mismatched_frames_are_one_line_naming_the_file(tmp_path, monkeypatch):
    root = write_folder(tmp_path)
    cut = root / "Train" / "Train001" / "004.tif"
    Image.fromarray(np.full((40, 50), 7, dtype=np.uint8)).save(cut)
    whole = cut.read_bytes()
    ds = UcsdClips(str(root), "train", clip_len=5)
    with pytest.raises(DataFileError, match=rf"^frame file {cut} is 40 x 50 but .*Train001/001.tif is 12 x 16; the"):
        ds.__getitems__([0])
    cut.write_bytes(whole[: len(whole) // 3])  # the header survives, the pixels are cut short
    with pytest.raises(DataFileError, match=rf"^frame file {cut} is unreadable \(") as err:
        ds.__getitems__([0])
    assert "\n" not in str(err.value)
    floats = root / "Train" / "Train002" / "001.tif"
    img = np.full((H, W), 100.0, dtype=np.float32)
    img[0, :3] = [np.nan, np.inf, -np.inf]
    Image.fromarray(img, mode="F").save(floats)
    assert read_grey(str(floats))[0, :4].tolist() == [0, 255, 0, 100]  # finite
    real_listdir = os.listdir

    def refuse(path):
        if str(path) == str(root / "Test"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", refuse)
    with pytest.raises(DataFileError, match=rf"^cannot list {root / 'Test'} \(Permission denied\)$"):
        UcsdClips(str(root), "test")
