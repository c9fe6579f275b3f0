"""Counter-based randomness: every random number is a pure function of
``(seed, sample index, stream, counter)``.

A generator asks for the numbers of one *purpose* (a stream name such as ``"perspective"``) for a
batch of sample indices; sample ``i`` gets the same numbers whether it is drawn alone, in a batch of
512, in a DataLoader worker, on another rank or device. The hash is MurmurHash3's 32-bit finaliser
applied over the words of the key. On CPU it is computed with numpy uint32 arithmetic (native 32-bit
multiplies that wrap, about 5x faster than int64 tensor ops on a per-pixel draw and fewer calls on a
small one); on other devices with int64 tensor ops (values kept in [0, 2**32)). Both give the same
integers bit for bit (tested), so data is the same on CPU and CUDA.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _fmix32(h: Tensor) -> Tensor:
    """MurmurHash3 finaliser on int64 tensors holding values in [0, 2**32). The first step makes a
    new tensor; the rest work in place on it (fewer allocations on this hot path)."""
    h = h ^ (h >> 16)
    h.mul_(0x85EBCA6B).bitwise_and_(_M32)  # low 32 bits are exact under int64 wrap-around
    h.bitwise_xor_(h >> 13)
    h.mul_(0xC2B2AE35).bitwise_and_(_M32)
    h.bitwise_xor_(h >> 16)
    return h


_U16, _U13, _U8 = np.uint32(16), np.uint32(13), np.uint32(8)
_TWO_M24 = np.float32(1.0 / (1 << 24))
_TWO_PI_M24 = np.float32(2.0 * math.pi / (1 << 24))  # torch rounds a Python scalar to the tensor's float32
_C1, _C2, _G32 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35), np.uint32(_GOLDEN)


def _fmix32_np(h: np.ndarray) -> np.ndarray:
    """``_fmix32`` on a uint32 numpy array, in place (uint32 multiplies wrap modulo 2**32)."""
    h ^= h >> _U16
    h *= _C1
    h ^= h >> _U13
    h *= _C2
    h ^= h >> _U16
    return h


#: the two multipliers as int32 (their uint32 bit patterns): ``_fmix32_i32``'s wrapping multiplies
_C1_I32, _C2_I32 = int(_C1.view(np.int32)), int(_C2.view(np.int32))


def _fmix32_i32(h: Tensor, tmp: Tensor) -> Tensor:
    """``_fmix32`` in place on an int32 tensor holding uint32 bit patterns (``tmp``: scratch of its
    shape). int32 multiplies wrap modulo 2**32 like uint32 ones (the same low 32 bits); the shifts
    are arithmetic, so each is masked to the logical shift's bits. torch has no uint32 shift, and
    unlike numpy its int32 ops run on every intra-op thread: 1.2-1.3x the numpy finaliser's rate on
    2 cores for a per-pixel draw, the same on one (tested equal to it)."""
    torch.bitwise_right_shift(h, 16, out=tmp).bitwise_and_(0xFFFF)
    h.bitwise_xor_(tmp).mul_(_C1_I32)
    torch.bitwise_right_shift(h, 13, out=tmp).bitwise_and_(0x7FFFF)
    h.bitwise_xor_(tmp).mul_(_C2_I32)
    torch.bitwise_right_shift(h, 16, out=tmp).bitwise_and_(0xFFFF)
    return h.bitwise_xor_(tmp)


def _fmix32_int(h: int) -> int:
    """``_fmix32`` on a Python int (the same arithmetic, no tensor ops)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _absorb_int(h: int, word: int) -> int:
    return _fmix32_int((h ^ _fmix32_int((word + _GOLDEN) & _M32)) & _M32)


@functools.lru_cache(maxsize=4096)
def _stream_key(seed: int, stream: str | int) -> int:
    """The hash state after absorbing (seed, stream): the same for every sample, so computed once
    in Python rather than as a chain of scalar tensor ops on every call."""
    key = _absorb_int(0x3C6EF372, seed & _M32)
    key = _absorb_int(key, (seed >> 32) & _M32)
    return _absorb_int(key, stream_id(stream))


_COUNTER_WORDS: dict[tuple[int, str], Tensor] = {}
_COUNTER_WORDS_NP: dict[int, np.ndarray] = {}


def _counter_words(count: int, device: torch.device) -> Tensor:
    """``_fmix32(counter + golden)`` for counters ``0..count-1``: the sample-independent half of the
    last absorb, computed once per (count, device) and reused (a per-pixel draw then costs one
    finaliser instead of two)."""
    key = (count, str(device))
    words = _COUNTER_WORDS.get(key)
    if words is None:
        words = _fmix32((torch.arange(count, dtype=torch.int64, device=device) + _GOLDEN) & _M32)
        if len(_COUNTER_WORDS) > 64:
            _COUNTER_WORDS.clear()
        _COUNTER_WORDS[key] = words
    return words


def _counter_words_np(count: int) -> np.ndarray:
    """``_counter_words`` as a uint32 numpy array (the CPU path)."""
    words = _COUNTER_WORDS_NP.get(count)
    if words is None:
        words = _fmix32_np(np.arange(count, dtype=np.uint32) + _G32)
        if len(_COUNTER_WORDS_NP) > 64:
            _COUNTER_WORDS_NP.clear()
        _COUNTER_WORDS_NP[count] = words
    return words


def stream_id(stream: str | int) -> int:
    """A stable 32-bit id of a stream name (crc32), or the integer itself."""
    if isinstance(stream, int):
        return stream & _M32
    return zlib.crc32(stream.encode("utf-8")) & _M32


#: seeds are hashed as two 32-bit words: a larger one would silently alias a smaller one
MAX_SEED = 2**64 - 1


def check_seed(seed) -> int:
    """``seed`` as an int in ``[0, 2**64 - 1]``, or a one-line ConfigError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed={seed!r} must be an integer")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ConfigError(f"seed={seed} is out of range; allowed: [0, 2**64 - 1] (seeds are 64-bit)")
    return int(seed)


def as_sample_indices(indices, device: torch.device | str | None = None) -> Tensor:
    """Global sample indices as a 1-D int64 tensor. Floats, bools, negatives and values past int64 are
    a one-line ConfigError (``torch.as_tensor(..., dtype=int64)`` would truncate or wrap them)."""
    if isinstance(indices, Tensor):
        if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
            raise ConfigError(f"sample indices must be integers; got a {indices.dtype} tensor")
        out = indices.to(torch.int64).reshape(-1)
    else:
        values = np.asarray(list(indices) if not isinstance(indices, (int, np.integer)) else [indices])
        if values.size and values.dtype.kind not in "iu":
            first = values.reshape(-1)[0]
            first = first.item() if hasattr(first, "item") else first
            raise ConfigError(
                f"sample indices must be integers in [0, 2**63 - 1]; got {first!r} ({values.dtype} values)"
            )
        if values.size and values.dtype.kind == "u" and int(values.max()) > 2**63 - 1:
            raise ConfigError(f"sample index {int(values.max())} is out of range; allowed: [0, 2**63 - 1]")
        out = torch.from_numpy(values.astype(np.int64, copy=False).reshape(-1))
    if out.numel() and bool((out < 0).any()):
        raise ConfigError(f"sample index {int(out.min())} is negative; sample indices are >= 0")
    return out.to(device) if device is not None else out


def hash_bits(seed: int, index: Tensor, stream: str | int, count: int) -> Tensor:
    """Random 32-bit integers, shape ``(len(index), count)``, int64 in [0, 2**32)."""
    return CounterRNG(seed, index).bits(stream, (count,))


def _index_words_torch(index: Tensor) -> tuple[Tensor, Tensor]:
    """``_index_words`` with int64 tensor ops, on any device."""
    return _fmix32((index & _M32) + _GOLDEN & _M32), _fmix32(((index >> 32) & _M32) + _GOLDEN & _M32)


def _index_words(index: Tensor) -> tuple[Tensor, Tensor] | tuple[np.ndarray, np.ndarray]:
    """The stream-independent halves of the two index absorbs, ``_fmix32(word + golden)`` for the low
    and the high 32 bits of each index: computed once per batch of indices and reused by every
    stream drawn for it (numpy uint32 arrays for a CPU index, int64 tensors otherwise)."""
    if index.device.type == "cpu":
        idx = index.numpy()
        return (_fmix32_np((idx & _M32).astype(np.uint32) + _G32), _fmix32_np((idx >> 32).astype(np.uint32) + _G32))
    return _index_words_torch(index)


def _hash_words(words, seed: int, stream: str | int, count: int, raw: bool = False) -> Tensor:
    """``hash_bits`` from cached index words: the same bits, three finalisers a call instead of five
    (xor of two values below 2**32 stays below it, so no mask is needed after it). Returns an int64
    tensor ``(B, count)`` on the index's device (``raw``: on CPU, the uint32 numpy array itself)."""
    low, high = words
    key = _stream_key(int(seed), stream)
    if isinstance(low, np.ndarray):
        h = _fmix32_np(low ^ np.uint32(key))
        h = _fmix32_np(h ^ high)
        out = _fmix32_np(h[:, None] ^ _counter_words_np(count)[None, :])
        return out if raw else torch.from_numpy(out.astype(np.int64))
    h = _fmix32(low ^ key)
    h = _fmix32(h.bitwise_xor_(high))
    return _fmix32(h[:, None] ^ _counter_words(count, low.device)[None, :])


def _hash_words_torch(index: Tensor, seed: int, stream: str | int, count: int) -> Tensor:
    """The int64 tensor-op hash on any device (CPU included): what a CUDA device computes. Kept
    callable on CPU so tests can check the two paths agree bit for bit."""
    return _hash_words(_index_words_torch(index), seed, stream, count)


class CounterRNG:
    """Per-sample random draws for a batch of sample indices.

    ``CounterRNG(seed, index).uniform("blur", (T,))`` returns a ``(B, T)`` tensor on ``index``'s
    device whose row ``b`` depends only on ``(seed, index[b], "blur")``. Different streams are
    independent; ask for each purpose by its own name so adding a draw never shifts another.
    """

    def __init__(self, seed: int, index: Tensor | Sequence[int], device: torch.device | str | None = None):
        if not isinstance(index, Tensor):
            index = as_sample_indices(index)
        if device is not None:
            index = index.to(device)
        self.seed = check_seed(seed)
        self.index = index.to(torch.int64)
        if self.index.dim() != 1:
            raise ValueError(f"index must be 1-D, got shape {tuple(self.index.shape)}")
        if bool((self.index < 0).any()):
            raise ValueError("sample indices must be non-negative")
        self._words = None

    @property
    def device(self) -> torch.device:
        return self.index.device

    def __len__(self) -> int:
        return int(self.index.numel())

    def bits(self, stream: str | int, shape: Sequence[int] = ()) -> Tensor:
        shape = tuple(int(s) for s in shape)
        n = math.prod(shape) if shape else 1
        return self._hash(stream, n).reshape(len(self), *shape)

    def _hash(self, stream: str | int, count: int) -> Tensor:
        """``(B, count)`` int64 words in [0, 2**32)."""
        words = self._raw(stream, count)
        return torch.from_numpy(words.astype(np.int64)) if isinstance(words, np.ndarray) else words

    def _raw(self, stream: str | int, count: int):
        """The same words as ``_hash``: a uint32 numpy array on CPU, an int64 tensor elsewhere."""
        if self._words is None:
            self._words = _index_words(self.index)
        return _hash_words(self._words, self.seed, stream, count, raw=True)

    def _numpy_words(self) -> bool:
        """Whether the words are hashed with numpy (CPU) rather than int64 tensor ops."""
        return self.device.type == "cpu"

    def uniform(self, stream: str | int, shape: Sequence[int] = (), low=0.0, high=1.0) -> Tensor:
        """Float32 uniform in ``[low, high)``; 24 random bits per value. Bounds may be tensors."""
        shape = tuple(int(s) for s in shape)
        words = self._raw(stream, math.prod(shape) if shape else 1)
        if isinstance(words, np.ndarray):  # the top 24 bits, exact in float32, times 2**-24 (exact)
            u = torch.from_numpy((words >> _U8).astype(np.float32) * _TWO_M24)
        else:
            u = (words >> 8).to(torch.float32) * (1.0 / (1 << 24))
        u = u.reshape(len(self), *shape)
        return low + (high - low) * u if (low != 0.0 or high != 1.0) else u

    def uniform64(self, stream: str | int, shape: Sequence[int] = ()) -> Tensor:
        """Float64 uniform in ``(0, 1]`` with 32 random bits (for log/Box-Muller)."""
        return (self.bits(stream, shape).to(torch.float64) + 1.0) * (1.0 / 4294967296.0)

    def normal(self, stream: str | int, shape: Sequence[int] = (), mean=0.0, std=1.0) -> Tensor:
        """Float32 standard normal via Box-Muller; each pair of 32-bit draws gives two values
        (the cosine and the sine branch)."""
        shape = tuple(int(s) for s in shape)
        n = math.prod(shape) if shape else 1
        half = (n + 1) // 2
        if self._numpy_words():
            z = torch.from_numpy(self._normal_blocks(stream, half))
        else:
            words = self._raw(stream, 2 * half)
            u1 = ((words[:, :half] >> 8).to(torch.float32) + 1.0) * (1.0 / (1 << 24))  # (0, 1]
            u2 = (words[:, half:] >> 8).to(torch.float32) * (2.0 * math.pi / (1 << 24))
            r = torch.sqrt(-2.0 * torch.log(u1))
            z = torch.cat([r * torch.cos(u2), r * torch.sin(u2)], dim=1)
        z = z[:, :n].reshape(len(self), *shape)
        return mean + std * z if (mean != 0.0 or std != 1.0) else z

    #: pairs of draws a block of ``_normal_blocks`` works on (~1.5 MB of words and values): bounds the
    #: memory of a large draw; 2**15-2**22 measured within 15% of each other at 2.56 M values
    normal_block = 1 << 17

    def _normal_blocks(self, stream: str | int, half: int, out: np.ndarray | None = None) -> np.ndarray:
        """``normal``'s ``(B, 2 * half)`` values on CPU, the cosine branch then the sine branch: the
        same words and float32 steps as the tensor path (the per-value finaliser in int32 tensor ops,
        ``_fmix32_i32``; torch's log, sqrt, cos and sin; tested equal), written in place into the
        output block by block instead of through a dozen temporaries and a ``cat``: 2x faster at
        2.56 M values (64 series of 10,000 x 4), 1.1x at 800 K (320 frames of 50 x 50), then the int32
        finaliser 1.15-1.25x more on 2 cores. ``out``: a float32 array of that shape to write into
        (returned)."""
        if self._words is None:
            self._words = _index_words(self.index)
        low, high = self._words
        h = _fmix32_np(low ^ np.uint32(_stream_key(self.seed, stream)))
        h = torch.from_numpy(_fmix32_np(h ^ high).view(np.int32))[:, None]  # (B, 1): the row's state
        counter = torch.from_numpy(_counter_words_np(2 * half).view(np.int32))
        b = len(h)
        if out is None:
            out = np.empty((b, 2 * half), dtype=np.float32)
        values = torch.from_numpy(out)
        rows = max(1, min(b, self.normal_block // max(half, 1)))
        cols = half if rows > 1 else min(half, self.normal_block)
        words = torch.empty(min(rows, b), cols, dtype=torch.int32)  # scratch, reused block to block
        tmp = torch.empty_like(words)
        for r0 in range(0, b, rows):  # blocks of rows and columns, not a loop over samples
            hr = h[r0 : r0 + rows]
            for c0 in range(0, half, cols):
                c1 = min(half, c0 + cols)
                w, t = words[: len(hr), : c1 - c0], tmp[: len(hr), : c1 - c0]
                r, angle = values[r0 : r0 + rows, c0:c1], values[r0 : r0 + rows, half + c0 : half + c1]
                for cw, dst in ((counter[c0:c1], r), (counter[half + c0 : half + c1], angle)):
                    _fmix32_i32(torch.bitwise_xor(hr, cw, out=w), t)
                    dst.copy_(w.bitwise_right_shift_(8).bitwise_and_(0xFFFFFF))  # below 2**24: exact
                r.add_(1.0).mul_(float(_TWO_M24))  # u1 in (0, 1]
                angle.mul_(float(_TWO_PI_M24))  # u2 in [0, 2 pi)
                radius = r.log().mul_(-2.0).sqrt_()
                sine = angle.sin()
                torch.mul(radius, angle.cos(), out=r)
                torch.mul(radius, sine, out=angle)
        return out

    def integers(self, stream: str | int, shape: Sequence[int], high, low=0) -> Tensor:
        """Int64 uniform in ``[low, high)``; ``high``/``low`` may be ints or tensors broadcastable
        to ``(B, *shape)``. Uses Lemire's multiply-shift (exact for ranges below 2**31)."""
        bits = self.bits(stream, shape)
        if isinstance(high, int) and isinstance(low, int):  # the common case: no tensor bounds to check
            if high <= low:
                raise ValueError("integers(): high must exceed low for every sample")
            out = bits.mul_(high - low).bitwise_right_shift_(32)
            return out.add_(low) if low else out
        span = torch.as_tensor(high, dtype=torch.int64, device=self.device) - torch.as_tensor(
            low, dtype=torch.int64, device=self.device
        )
        if bool((span <= 0).any()):
            raise ValueError("integers(): high must exceed low for every sample")
        return torch.as_tensor(low, dtype=torch.int64, device=self.device) + ((bits * span) >> 32)

    def bernoulli(self, stream: str | int, shape: Sequence[int], p) -> Tensor:
        """Bool tensor, True with probability ``p`` (float or tensor)."""
        return self.uniform(stream, shape) < torch.as_tensor(p, device=self.device)

    def permutation_keys(self, stream: str | int, n: int) -> Tensor:
        """Per-sample random permutations of ``range(n)``: ``(B, n)`` int64 (argsort of keys)."""
        return torch.argsort(self.bits(stream, (n,)), dim=1)

    def distinct_pair(self, stream: str | int, n: int) -> tuple[Tensor, Tensor]:
        """Two different integers in ``[0, n)`` per sample, uniform over the n*(n-1) ordered pairs."""
        if n < 2:
            raise ValueError("distinct_pair needs n >= 2")
        a = self.integers(f"{stream}/a", (), n)
        b = self.integers(f"{stream}/b", (), n - 1)
        b = b + (b >= a).to(torch.int64)
        return a, b
