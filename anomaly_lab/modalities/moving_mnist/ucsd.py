"""Clips of real surveillance video in the UCSD Ped1/Ped2 folder layout.

::

    root/Train/Train001/001.tif ...           normal videos
    root/Test/Test001/001.tif ...             test videos
    root/Test/Test001_gt/001.bmp ...          optional per-frame masks (Ped1: 001.bmp, Ped2: frame001.bmp)

Each video is cut into clips of ``clip_len`` consecutive frames (every ``stride`` frames; the tail
that does not fill a clip is dropped, as the tutorial did). Frames are read as 8-bit grey, resized
to ``size`` x ``size`` (bilinear, antialiased; None keeps them) and scaled to [0, 1]. Masks are
matched to frames by the number in their names, resized by nearest neighbour, and a frame is
anomalous when its mask has any pixel set. Training videos are normal (labels 0); a test video
without a ``_gt`` folder gets labels ``-1`` (unknown).

Files are untrusted input: an image is opened only as TIFF, PNG, JPEG or BMP (whatever its name, so
no other decoder of Pillow's, such as EPS through Ghostscript, ever runs), its declared size is
checked against :data:`MAX_FRAME_PIXELS` from the header before any pixel is decoded, and any
failure to decode it is a one-line :class:`DataFileError` naming the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from anomaly_lab.core.errors import DataFileError, check_choice, check_range
from anomaly_lab.synth.geometry import resize

SPLITS = ("train", "test")
FRAME_EXTENSIONS = (".tif", ".tiff", ".png", ".jpg", ".bmp")
MASK_EXTENSIONS = (".bmp", ".png", ".tif", ".tiff")
#: the only decoders Pillow may use on these files
IMAGE_FORMATS = ("TIFF", "PNG", "JPEG", "BMP")
#: the most pixels one frame may declare (UCSD frames have 37,604 and 86,400; 4K video 8.3 million):
#: a header asking for more is refused before it is decoded, so a batch stays within memory
MAX_FRAME_PIXELS = 1 << 24


def _frame_number(name: str) -> int | None:
    digits = re.findall(r"\d+", os.path.splitext(name)[0])
    return int(digits[-1]) if digits else None


def _listing(folder: str, extensions: Sequence[str]) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise DataFileError(f"cannot list {folder} ({err.strerror or err})") from err
    return sorted(n for n in names if n.lower().endswith(tuple(extensions)) and not n.startswith("."))


def _check_consecutive(folder: str, names: list[str]) -> None:
    """DataFileError naming the first missing frame when the numbered frames of a video have a gap."""
    numbers = [_frame_number(n) for n in names]
    if any(n is None for n in numbers):
        return  # unnumbered frames: their sorted order is the video
    if len(set(numbers)) != len(numbers):
        dup = sorted(n for n in set(numbers) if numbers.count(n) > 1)[0]
        raise DataFileError(
            f"video folder {folder} has two frames numbered {dup}: {[m for m, k in zip(names, numbers) if k == dup]}"
        )
    have = set(numbers)
    missing = [k for k in range(min(numbers), max(numbers) + 1) if k not in have]
    if missing:
        template = names[0]
        run = re.findall(r"\d+", os.path.splitext(template)[0])[-1]
        stem, ext = os.path.splitext(template)
        at = stem.rfind(run)
        name = stem[:at] + str(missing[0]).zfill(len(run)) + stem[at + len(run) :] + ext
        raise DataFileError(
            f"frame file {os.path.join(folder, name)} is missing ({len(missing)} missing between"
            f" {names[0]} and {names[-1]})"
        )


def read_grey(path: str, what: str = "frame file") -> np.ndarray:
    """An image file as a 2-D uint8 array (DataFileError naming the file if it is missing, too
    large, or cannot be decoded)."""
    if not os.path.isfile(path):
        raise DataFileError(f"{what} {path} is missing")
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            w, h = im.size  # from the header: nothing decoded yet
            if w * h > MAX_FRAME_PIXELS:
                raise DataFileError(
                    f"{what} {path} declares {w} x {h} pixels; at most {MAX_FRAME_PIXELS} pixels a frame are read"
                )
            im.load()
            arr = np.asarray(im)
    except DataFileError:
        raise
    except Image.DecompressionBombError as err:  # Pillow's own cap, checked in open(), above ours
        raise DataFileError(
            f"{what} {path} declares too many pixels; at most {MAX_FRAME_PIXELS} a frame are read"
        ) from err
    except UnidentifiedImageError as err:
        raise DataFileError(f"{what} {path} is unreadable (not a {', '.join(IMAGE_FORMATS)} image)") from err
    except Exception as err:  # a damaged file can raise almost anything from inside Pillow's decoders
        raise DataFileError(f"{what} {path} is unreadable ({type(err).__name__}: {err})") from err
    if arr.ndim == 3:
        arr = arr[..., :3].mean(-1)
    if arr.ndim != 2 or arr.size == 0:
        raise DataFileError(f"{what} {path} is not a 2-D image (shape {arr.shape})")
    if arr.dtype != np.uint8:
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if arr.max() > 255:
            arr = arr * (255.0 / max(float(arr.max()), 1.0))
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    return arr


class UcsdClips(Dataset):
    """Clips of one split of a UCSD-style folder.

    Items (through ``__getitems__``, a whole batch at once): ``frames`` (B, T, 1, S, S) float32 in
    [0, 1], ``frame_labels`` (B, T) int64 (1 anomalous, 0 normal, -1 unknown), ``masks``
    (B, T, 1, S, S) bool, ``video`` (B,) and ``start`` (B,) int64 (which video, first frame).
    The folders are scanned at construction; files are read when a clip is asked for.
    """

    def __init__(
        self,
        root: str,
        split: str = "train",
        clip_len: int = 10,
        stride: int | None = None,
        size: int | None = 64,
        videos: Sequence[str] | None = None,
    ):
        check_choice("data.split", split, SPLITS)
        check_range("data.clip_len", clip_len, 1, integer=True)
        stride = clip_len if stride is None else stride
        check_range("data.stride", stride, 1, integer=True)
        if size is not None:
            check_range("data.size", size, 4, integer=True)
        self.root, self.split, self.clip_len, self.stride, self.size = str(root), split, clip_len, stride, size
        folder = os.path.join(self.root, "Train" if split == "train" else "Test")
        if not os.path.isdir(folder):
            raise DataFileError(
                f"UCSD folder {folder} not found; data.root must hold Train/ and Test/ (e.g. UCSDped1/)"
            )
        if videos is None:  # every video folder (listed with a one-line error if the folder cannot be)
            entries = _listing(folder, ("",))
            videos = [n for n in entries if os.path.isdir(os.path.join(folder, n)) and not n.endswith("_gt")]
        names = videos
        self.videos: list[dict] = []
        for name in names:  # a few dozen videos, scanned once
            vdir = os.path.join(folder, name)
            if not os.path.isdir(vdir):
                raise DataFileError(f"video folder {vdir} is missing")
            frames = _listing(vdir, FRAME_EXTENSIONS)
            if not frames:
                raise DataFileError(f"video folder {vdir} has no frames ({', '.join(FRAME_EXTENSIONS)})")
            _check_consecutive(vdir, frames)
            masks = None
            gt = vdir + "_gt"
            if split == "test" and os.path.isdir(gt):
                by_number = {_frame_number(m): m for m in _listing(gt, MASK_EXTENSIONS)}
                masks = []
                for f in frames:
                    m = by_number.get(_frame_number(f))
                    if m is None:
                        raise DataFileError(
                            f"mask for frame {os.path.join(vdir, f)} is missing from {gt}"
                            f" (expected a file numbered {_frame_number(f)})"
                        )
                    masks.append(os.path.join(gt, m))
            self.videos.append({"name": name, "frames": [os.path.join(vdir, f) for f in frames], "masks": masks})
        if not self.videos:
            raise DataFileError(f"UCSD folder {folder} has no video folders")
        clips = [
            (v, s) for v, video in enumerate(self.videos) for s in range(0, len(video["frames"]) - clip_len + 1, stride)
        ]
        if not clips:
            raise DataFileError(f"no video under {folder} has {clip_len} frames for one clip; lower data.clip_len")
        self.clips = torch.tensor(clips, dtype=torch.int64)

    def __len__(self) -> int:
        return int(self.clips.shape[0])

    def _read(self, paths: list[str], is_mask: bool) -> Tensor:
        what = "mask file" if is_mask else "frame file"
        arrays = [read_grey(p, what) for p in paths]  # file I/O: one read per frame
        for p, a in zip(paths, arrays):
            if a.shape != arrays[0].shape:
                raise DataFileError(
                    f"{what} {p} is {a.shape[0]} x {a.shape[1]} but {paths[0]} is {arrays[0].shape[0]} x"
                    f" {arrays[0].shape[1]}; the frames of a clip batch must share one size"
                )
        x = torch.from_numpy(np.stack(arrays))[:, None].to(torch.float32)
        if is_mask:
            x = (x > 0).to(torch.float32)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            if is_mask:
                x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="nearest")
            else:
                x = resize(x, self.size)
        return x if is_mask else (x / 255.0).clamp(0.0, 1.0)

    def __getitems__(self, items: Sequence[int]) -> dict[str, Tensor]:
        rows = self.clips[torch.as_tensor(list(items), dtype=torch.int64)]
        t = self.clip_len
        frame_paths, mask_paths, known = [], [], []
        for v, s in rows.tolist():
            video = self.videos[v]
            frame_paths += video["frames"][s : s + t]
            has = video["masks"] is not None
            known.append(has or self.split == "train")
            mask_paths += video["masks"][s : s + t] if has else [None] * t
        frames = self._read(frame_paths, False)
        b = len(rows)
        masks = torch.zeros_like(frames, dtype=torch.bool)
        with_mask = [i for i, p in enumerate(mask_paths) if p is not None]
        if with_mask:
            masks[with_mask] = self._read([mask_paths[i] for i in with_mask], True) > 0.5
        masks = masks.view(b, t, *frames.shape[1:])
        labels = masks.flatten(2).any(-1).to(torch.int64)
        labels[~torch.tensor(known)] = -1
        return {
            "frames": frames.view(b, t, *frames.shape[1:]),
            "frame_labels": labels,
            "masks": masks,
            "video": rows[:, 0].clone(),
            "start": rows[:, 1].clone(),
        }

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        batch = self.__getitems__([item])
        return {k: v[0] for k, v in batch.items()}
