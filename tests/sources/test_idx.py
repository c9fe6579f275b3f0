import gzip
import os

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import DataFileError
from anomaly_lab.sources import load_source, read_idx


def write_idx(path, array: np.ndarray, compress=False):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(data)


def make_mnist_folder(root, n_train=12, n_test=5, compress=False, layout="MNIST/raw"):
    folder = os.path.join(root, layout) if layout else root
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for stem_img, stem_lab, n in (
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", n_train),
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", n_test),
    ):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labs = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if compress else ""
        write_idx(os.path.join(folder, stem_img + ext), imgs, compress)
        write_idx(os.path.join(folder, stem_lab + ext), labs, compress)
        arrays[stem_img] = (imgs, labs)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", ["MNIST/raw", "", "raw"])
def test_idx_round_trip(tmp_path, compress, layout):
    arrays = make_mnist_folder(str(tmp_path), compress=compress, layout=layout)
    train = load_source("idx", split="train", root=str(tmp_path))
    test = load_source("idx", split="test", root=str(tmp_path))
    imgs, labs = arrays["train-images-idx3-ubyte"]
    assert torch.equal(train.images, torch.from_numpy(imgs))
    assert train.labels.tolist() == labs.astype(int).tolist()
    assert len(test) == 5


def test_fashion_mnist_folder_and_class_names(tmp_path):
    make_mnist_folder(str(tmp_path), layout="FashionMNIST/raw")
    src = load_source("idx", split="train", root=str(tmp_path), dataset="fashion_mnist")
    assert src.classes[9] == "Ankle boot" and len(src) == 12


def test_missing_file_names_the_file(tmp_path):
    make_mnist_folder(str(tmp_path))
    os.remove(os.path.join(tmp_path, "MNIST/raw/t10k-labels-idx1-ubyte"))
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte.*not found"):
        load_source("idx", split="test", root=str(tmp_path))


def test_missing_root_is_clear(tmp_path):
    with pytest.raises(DataFileError, match="is not a folder"):
        load_source("idx", root=str(tmp_path / "nowhere"))


def test_corrupt_files_are_reported(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78garbage")
    with pytest.raises(DataFileError, match="bad magic"):
        read_idx(str(bad))
    make_mnist_folder(str(tmp_path / "t"))
    path = tmp_path / "t/MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataFileError, match="corrupt"):
        load_source("idx", root=str(tmp_path / "t"))


def test_label_count_mismatch(tmp_path):
    make_mnist_folder(str(tmp_path))
    write_idx(os.path.join(tmp_path, "MNIST/raw/train-labels-idx1-ubyte"), np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataFileError, match="3 labels for 12 images"):
        load_source("idx", root=str(tmp_path))


# -- hostile files: a clear one-line error before any big allocation -----------------------------
def _idx_header(code: int, shape) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)


def _one_line_error(path, max_peak=1 << 20):
    """read_idx's DataFileError for ``path``; the error must name the file, fit on one line, and come
    before any buffer near the declared size is allocated (numpy and bytes allocations are traced)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DataFileError) as err:
            read_idx(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    assert peak < max_peak, f"{peak} bytes allocated before the error"
    return message


def test_gz_of_zeros_fails_on_the_magic_number_before_decompressing(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(16 << 20))  # 16 MB of zeros, about 16 KB on disk
    assert "bad magic number 00000000" in _one_line_error(path)


@pytest.mark.parametrize("compress", [False, True])
def test_header_declaring_more_than_the_cap_is_refused(tmp_path, compress):
    path = tmp_path / ("big.gz" if compress else "big")
    payload = _idx_header(0x08, (1_000_000, 4096, 4096)) + bytes(1000)
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    assert "limit" in _one_line_error(path)


def test_gz_declaring_more_than_it_can_hold_is_refused(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:  # 1 GB declared (under the cap), 100 bytes of data
        fh.write(_idx_header(0x08, (1000, 1000, 1000)) + bytes(100))
    assert "corrupt" in _one_line_error(path)


def test_gz_whose_trailer_disagrees_with_the_header_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    noise = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()  # does not compress
    with gzip.open(path, "wb") as fh:  # declares 2,000,000 bytes: a 4 KB .gz could hold that; its trailer says 4,008
        fh.write(_idx_header(0x08, (2_000_000,)) + noise)
    assert "trailer records 4008 bytes" in _one_line_error(path)


def test_plain_file_shorter_than_its_header_says_is_refused_before_reading(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(_idx_header(0x08, (100_000, 28, 28)) + bytes(50))
    assert "corrupt" in _one_line_error(path)


@pytest.mark.parametrize("damage", ["not_gzip", "cut", "bad_crc"])
def test_broken_gz_is_one_line_naming_the_file(tmp_path, damage):
    path = tmp_path / "MNIST/raw/train-images-idx3-ubyte.gz"
    make_mnist_folder(str(tmp_path), compress=True)
    good = path.read_bytes()
    if damage == "not_gzip":
        path.write_bytes(b"this is not gzip data at all" * 10)
    elif damage == "cut":
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_bytes(good[:-8] + bytes(8))  # zeroed CRC and size
    with pytest.raises(DataFileError) as err:
        load_source("idx", root=str(tmp_path))
    assert "\n" not in str(err.value) and str(path) in str(err.value), str(err.value)


def test_gz_with_data_after_the_declared_payload_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(_idx_header(0x08, (10,)) + bytes(10) + b"extra")
    with pytest.raises(DataFileError, match="corrupt"):
        read_idx(str(path))


def test_gz_bomb_is_refused_under_a_memory_limit(tmp_path):
    """A 5 MB ``.gz`` that inflates to 1 GiB of zeros, read in a process that may map only 512 MB more
    than it holds after its imports: a reader that inflated the file before checking the magic
    number (as one did) dies of MemoryError there; ours answers the one line."""
    import subprocess
    import sys
    import textwrap
    import zlib

    member = zlib.compressobj(9, zlib.DEFLATED, 31)  # one gzip member of 16 MiB of zeros
    member = member.compress(bytes(16 << 20)) + member.flush()
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(member * 64)  # gzip readers inflate every member in turn: 1 GiB in all
    script = textwrap.dedent(
        f"""
        import re, resource, sys
        from anomaly_lab.core.errors import DataFileError
        from anomaly_lab.sources.idx import read_idx
        held = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) << 10
        resource.setrlimit(resource.RLIMIT_AS, (held + (512 << 20), resource.RLIM_INFINITY))
        try:
            read_idx({str(path)!r})
        except DataFileError as err:
            print("refused:", err)
            sys.exit(0)
        sys.exit(1)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused:" in result.stdout and "bad magic number" in result.stdout


@pytest.mark.parametrize("kind", ["bundled", "idx", "torchvision"])
def test_unknown_dataset_is_one_line(tmp_path, kind):
    from anomaly_lab.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_source(kind, root=str(tmp_path), dataset="cifar10")
    message = str(err.value)
    assert "\n" not in message and "source.dataset='cifar10'" in message and "fashion_mnist" in message


def test_bundled_refuses_a_dataset_it_does_not_hold():
    from anomaly_lab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="source.dataset='fashion_mnist' is not bundled"):
        load_source("bundled", dataset="fashion_mnist")
