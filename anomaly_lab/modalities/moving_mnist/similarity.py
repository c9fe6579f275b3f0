"""Which digits look alike: clusters of a source split, their representatives and their
different-label members (the anomaly candidates of Anomalous Moving MNIST).

Two ways to cluster, chosen by ``method``:

- ``tsne_kmeans`` (the notebook's): t-SNE of the raw pixels to 2-D (sklearn defaults), then K-Means
  on the embedding. t-SNE is quadratic-ish in memory and slow past a few thousand images.
- ``pca_kmeans`` (ours, scales to the 60,000 MNIST training images in seconds): PCA of the pixels to
  ``pca_components`` dimensions, then K-Means in that space.

Each cluster's representative is the member nearest its K-Means centre; its candidates are the
members whose label differs from the representative's. Clusters without a candidate cannot make an
anomaly: they are listed in ``skipped`` (and logged) and never used.

Tables are cached on disk as small ``.npz`` files keyed by the source (name, size and a digest of its
pixels and labels) and every parameter, so a second build loads in milliseconds. The file is plain
arrays (read with ``allow_pickle=False``, so loading it never runs code) and records what it was
built from: its key, the inputs' digest, the method and parameters, and a digest of its own arrays.
A cache is used only when all of these match the inputs asked for; otherwise (a file copied from
another source, renamed, edited, written by an older version or cut short) it is rebuilt and
replaced, with one warning line saying why. The digests catch mix-ups and damage, not a forger who
recomputes them: a forged table can only give wrong clusters, never run code.

A build that is not cached reports its stages (embedding, K-Means, saving) with their times as log
lines, and as a progress bar on a terminal: t-SNE of the 4,000 bundled digits takes about 30 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range

log = logging.getLogger(__name__)

METHODS = ("tsne_kmeans", "pca_kmeans")
CACHE_VERSION = 1  # part of the key: bump it when the clustering changes (files then get new names)
CACHE_FORMAT = 2  # what a cache file records (2: its key, input digest and array digest; 1: arrays only)


def default_cache_dir() -> str:
    """``$ANOMALY_LAB_CACHE`` or ``~/.cache/anomaly_lab``."""
    return os.environ.get("ANOMALY_LAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "anomaly_lab")


def _padded_groups(groups: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Ragged int lists -> ``(K, max_len)`` int64 table padded with 0, and ``(K,)`` counts."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    table = np.zeros((len(groups), width), dtype=np.int64)
    for k, g in enumerate(groups):  # K clusters, at table-build time (not a hot path)
        table[k, : len(g)] = g
    return torch.from_numpy(table), torch.from_numpy(counts)


@dataclass
class SimilarityTable:
    """Clusters of similar digits over the rows of one image source.

    Attributes:
        assignments: ``(N,)`` cluster id of each source row.
        representatives: ``(K,)`` source row nearest each centre.
        labels: ``(N,)`` class labels of the source rows.
        embedding: ``(N, 2)`` float32 2-D coordinates (t-SNE, or the first two PCA components).
        method, params: how it was made (for manifests and the cache key).
        members / member_counts: ``(K, M)`` rows of each cluster with the representative's label
            (padded with 0) and how many there are.
        candidates / candidate_counts: ``(K, C)`` rows of each cluster with another label.
        usable: ``(U,)`` cluster ids with at least one candidate; ``skipped``: the others.
    """

    assignments: Tensor
    representatives: Tensor
    labels: Tensor
    embedding: Tensor
    method: str = "given"
    params: dict = field(default_factory=dict)
    key: str = ""
    build_seconds: float = 0.0
    from_cache: bool = False

    def __post_init__(self) -> None:
        assign = self.assignments.to(torch.int64).cpu().numpy()
        labels = self.labels.to(torch.int64).cpu().numpy()
        reps = self.representatives.to(torch.int64).cpu().numpy()
        k = len(reps)
        if assign.shape != labels.shape:
            raise ValueError("assignments and labels must have the same length")
        if k == 0 or (len(assign) and (assign.min() < 0 or assign.max() >= k)):
            raise ValueError(f"assignments must lie in [0, {k})")
        if np.any(assign[reps] != np.arange(k)):
            raise ValueError("every representative must belong to its own cluster")
        rep_label = labels[reps]
        order = np.argsort(assign, kind="stable")
        bounds = np.searchsorted(assign[order], np.arange(k + 1))
        same, other = [], []
        for c in range(k):
            rows = order[bounds[c] : bounds[c + 1]]
            same.append(rows[labels[rows] == rep_label[c]])
            other.append(rows[labels[rows] != rep_label[c]])
        self.members, self.member_counts = _padded_groups(same)
        self.candidates, self.candidate_counts = _padded_groups(other)
        self.representative_labels = torch.from_numpy(rep_label)
        self.usable = torch.nonzero(self.candidate_counts > 0).flatten()
        self.skipped = torch.nonzero(self.candidate_counts == 0).flatten().tolist()

    @property
    def num_clusters(self) -> int:
        return int(self.representatives.numel())

    def to(self, device: torch.device | str) -> SimilarityTable:
        """The lookup tables on ``device`` (a copy; the clustering itself stays on the CPU)."""
        out = SimilarityTable.__new__(SimilarityTable)
        out.__dict__.update(self.__dict__)
        for name in (
            "members",
            "member_counts",
            "candidates",
            "candidate_counts",
            "representatives",
            "representative_labels",
            "usable",
        ):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def summary(self) -> dict:
        """Plain values for manifests: method, parameters, cluster sizes and what was skipped."""
        sizes = torch.bincount(self.assignments.cpu(), minlength=self.num_clusters)
        return {
            "method": self.method,
            "params": self.params,
            "key": self.key,
            "clusters": self.num_clusters,
            "usable": int(self.usable.numel()),
            "skipped": list(self.skipped),
            "cluster_sizes": sizes.tolist(),
            "candidates": self.candidate_counts.cpu().tolist(),
        }


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels.astype(np.int64)).tobytes())
    return h.hexdigest()[:20]


def _key_inputs(source_name: str, images: np.ndarray, labels: np.ndarray, method: str, params: dict) -> dict:
    """What a table is a function of: the cache key hashes this, and a cache file records it."""
    return {
        "v": CACHE_VERSION,
        "source": source_name,
        "n": int(len(images)),
        "digest": _digest(images, labels),
        "method": method,
        "params": params,
    }


def _key_of(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(source_name: str, images: np.ndarray, labels: np.ndarray, method: str, params: dict) -> str:
    """Hex key of (source name, size, pixel/label digest, method, parameters, cache version)."""
    return _key_of(_key_inputs(source_name, images, labels, method, params))


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """Digest of the cached arrays' names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


class CacheMismatch(ValueError):
    """A cache file that reads but does not belong to the inputs asked for (the reason is the text)."""


def _check_declared_sizes(path: str, limit: int) -> None:
    """Read each array's ``.npy`` header in the cache file and refuse one that declares more than
    ``limit`` bytes, before numpy allocates what a header asks for."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            declared = math.prod(shape) * dtype.itemsize
            if declared > limit:
                raise CacheMismatch(f"its array {info.filename} declares {declared} bytes (at most {limit} expected)")


def _load_cached(path: str, inputs: dict, n: int) -> dict[str, np.ndarray]:
    """The arrays of the cache file at ``path``, checked against ``inputs`` (raises CacheMismatch,
    or the reader's own error for a damaged file)."""
    _check_declared_sizes(path, limit=16 * n + (1 << 20))
    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        arrays = {k: z[k] for k in ("assignments", "representatives", "embedding") if k in names}
        meta_text = z["meta"] if "meta" in names else None
    if meta_text is None or meta_text.dtype.kind != "U" or meta_text.shape != ():
        raise CacheMismatch("it records no inputs (an older cache format)")
    try:
        meta = json.loads(str(meta_text))
    except json.JSONDecodeError as err:
        raise CacheMismatch(f"its record is not JSON ({err.msg})") from None
    if not isinstance(meta, dict):
        raise CacheMismatch("its record is not a JSON object")
    if meta.get("format") != CACHE_FORMAT:
        found = meta.get("format", 1)  # format 1 recorded only the method and parameters
        raise CacheMismatch(f"it is in cache format {found!r} (an older version's), not {CACHE_FORMAT}")
    if meta.get("inputs") != inputs or meta.get("key") != _key_of(inputs):
        recorded = meta.get("inputs") if isinstance(meta.get("inputs"), dict) else {}
        differ = sorted(k for k in set(inputs) | set(recorded) if recorded.get(k) != inputs.get(k)) or ["key"]
        raise CacheMismatch(f"it was built from other inputs (differing: {', '.join(differ)})")
    if set(arrays) != {"assignments", "representatives", "embedding"}:
        raise CacheMismatch(f"it lacks arrays (has {sorted(arrays)})")
    if meta.get("arrays") != _arrays_digest(arrays):
        raise CacheMismatch("its arrays do not match their recorded digest (changed after writing)")
    assign, reps, emb = arrays["assignments"], arrays["representatives"], arrays["embedding"]
    if assign.dtype != np.int64 or reps.dtype != np.int64 or reps.ndim != 1 or assign.shape != (n,):
        raise CacheMismatch(
            f"its assignments/representatives are {assign.dtype}{assign.shape}/{reps.dtype}{reps.shape},"
            f" expected int64({n},)/int64(K,)"
        )
    if emb.dtype != np.float32 or emb.shape != (n, 2):
        raise CacheMismatch(f"its embedding is {emb.dtype}{emb.shape}, expected float32({n}, 2)")
    return arrays


class _Stages:
    """Log lines with times for the stages of a build, and a tqdm bar over them on a terminal
    (``progress``: None shows the bar only on a terminal, True always, False never)."""

    def __init__(self, title: str, total: int, progress: bool | None):
        from tqdm.auto import tqdm

        self.title = title
        self.bar = tqdm(total=total, desc=title, unit="stage", disable=None if progress is None else not progress)
        log.info("%s: building (%d stages)", title, total)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.bar.set_postfix_str(name, refresh=True)
        t0 = time.perf_counter()
        yield
        log.info("%s: %s took %.1f s", self.title, name, time.perf_counter() - t0)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _cluster(
    pixels: np.ndarray,
    method: str,
    n_clusters: int,
    seed: int,
    perplexity: float,
    pca_components: int,
    n_init: int,
    stage: Callable[[str], contextlib.AbstractContextManager] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assignments, representatives and a 2-D embedding of flattened float pixels ``(N, P)``
    (``stage(name)`` wraps each step, to report it)."""
    from sklearn.cluster import KMeans

    stage = stage or (lambda name: contextlib.nullcontext())
    n = pixels.shape[0]
    if method == "tsne_kmeans":
        from sklearn.manifold import TSNE

        with stage(f"t-SNE of {n} images to 2-D"):
            features = TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(pixels)
        embedding = features
    else:
        from sklearn.decomposition import PCA

        comps = min(pca_components, pixels.shape[0], pixels.shape[1])
        with stage(f"PCA of {n} images to {comps} dimensions"):
            features = PCA(n_components=comps, svd_solver="randomized", random_state=seed).fit_transform(pixels)
        embedding = features[:, :2]
    features = np.ascontiguousarray(features, dtype=np.float64)
    with stage(f"K-Means ({n_clusters} clusters, {n_init} restarts)"):
        km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit(features)
    assign = km.labels_.astype(np.int64)
    dist = ((features - km.cluster_centers_[assign]) ** 2).sum(axis=1)
    # nearest member of each centre: sort by (cluster, distance) and take each cluster's first row
    order = np.lexsort((dist, assign))
    first = np.searchsorted(assign[order], np.arange(n_clusters))
    present = np.bincount(assign, minlength=n_clusters) > 0
    if not present.all():  # K-Means may leave a centre without members; renumber the others
        keep = np.nonzero(present)[0]
        assign = np.searchsorted(keep, assign)
        first = first[keep]
    reps = order[first]
    return assign, reps, embedding.astype(np.float32)


def build_similarity_table(
    images: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    method: str = "tsne_kmeans",
    n_clusters: int = 30,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_components: int = 50,
    n_init: int = 10,
    source_name: str = "images",
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
) -> SimilarityTable:
    """Cluster ``images`` ``(N, H, W)`` uint8 with ``labels`` ``(N,)`` into a :class:`SimilarityTable`.

    With ``use_cache`` the table is read from / written to ``cache_dir`` (default
    :func:`default_cache_dir`) under ``similarity/<method>-<key>.npz``; a cache file that is
    unreadable or does not match these inputs is rebuilt and replaced (one warning line says why).
    ``progress``: the build's progress bar (None: on a terminal only); its stages are also logged.
    """
    check_choice("similarity.method", method, METHODS)
    check_range("similarity.n_clusters", n_clusters, 2, integer=True)
    check_range("similarity.perplexity", perplexity, 1.0)
    check_range("similarity.pca_components", pca_components, 2, integer=True)
    check_range("similarity.n_init", n_init, 1, integer=True)
    images = images.cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    labels = labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    labels = labels.astype(np.int64)
    n = len(images)
    if n < n_clusters:
        raise ConfigError(f"similarity.n_clusters={n_clusters} exceeds the {n} images to cluster; use at most {n}")
    if method == "tsne_kmeans" and n <= 3 * perplexity:
        raise ConfigError(
            f"similarity.perplexity={perplexity} needs more than {int(3 * perplexity)} images for t-SNE, got {n};"
            f" lower the perplexity or use more images"
        )
    params = {"n_clusters": n_clusters, "seed": seed, "n_init": n_init}
    params.update({"perplexity": float(perplexity)} if method == "tsne_kmeans" else {"pca_components": pca_components})
    inputs = _key_inputs(source_name, images, labels, method, params)
    key = _key_of(inputs)
    path = os.path.join(cache_dir or default_cache_dir(), "similarity", f"{method}-{key}.npz")
    t0 = time.perf_counter()
    if use_cache and os.path.exists(path):
        try:
            cached = _load_cached(path, inputs, n)
            assign, reps, embedding = cached["assignments"], cached["representatives"], cached["embedding"]
            table = SimilarityTable(
                torch.from_numpy(assign),
                torch.from_numpy(reps),
                torch.from_numpy(labels),
                torch.from_numpy(embedding),
                method,
                params,
                key,
                time.perf_counter() - t0,
                True,
            )
            _report_skipped(table, source_name)
            return table
        except CacheMismatch as err:
            log.warning("similarity cache %s does not match its inputs: %s; rebuilding it", path, err)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("similarity cache %s is unreadable (%s); rebuilding it", path, err)
    stages = _Stages(f"similarity table of {source_name} ({method}, {n} images)", 3 if use_cache else 2, progress)
    try:
        pixels = images.reshape(n, -1).astype(np.float32) / 255.0
        assign, reps, embedding = _cluster(
            pixels, method, n_clusters, seed, perplexity, pca_components, n_init, stages.stage
        )
        table = SimilarityTable(
            torch.from_numpy(assign),
            torch.from_numpy(reps),
            torch.from_numpy(labels),
            torch.from_numpy(embedding),
            method,
            params,
            key,
            time.perf_counter() - t0,
            False,
        )
        if use_cache:
            with stages.stage(f"saving the cache {path}"):
                _save(path, table, inputs)
    finally:
        stages.close()
    _report_skipped(table, source_name)
    return table


def _save(path: str, table: SimilarityTable, inputs: dict) -> None:
    arrays = {
        "assignments": table.assignments.cpu().numpy().astype(np.int64),
        "representatives": table.representatives.cpu().numpy().astype(np.int64),
        "embedding": table.embedding.cpu().numpy().astype(np.float32),
    }
    meta = {"format": CACHE_FORMAT, "key": _key_of(inputs), "inputs": inputs, "arrays": _arrays_digest(arrays)}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
        os.replace(tmp, path)
    except OSError as err:
        raise DataFileError(
            f"cannot write the similarity cache {path} ({err.strerror or err}); set similarity.cache_dir"
            f" to a writable folder"
        ) from err


def _report_skipped(table: SimilarityTable, source_name: str) -> None:
    if not table.usable.numel():
        raise ConfigError(
            f"no cluster of {source_name!r} has a member of another label (n_clusters={table.num_clusters});"
            f" use fewer clusters or more images"
        )
    if table.skipped:
        log.warning(
            "similarity table of %s: %d of %d clusters have no member of another label and are skipped: %s",
            source_name,
            len(table.skipped),
            table.num_clusters,
            table.skipped,
        )
