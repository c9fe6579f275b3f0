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
pixels and labels) and every parameter, so a second build loads in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from anomaly_lab.core.errors import ConfigError, DataFileError, check_choice, check_range

log = logging.getLogger(__name__)

METHODS = ("tsne_kmeans", "pca_kmeans")
CACHE_VERSION = 1


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


def cache_key(source_name: str, images: np.ndarray, labels: np.ndarray, method: str, params: dict) -> str:
    """Hex key of (source name, size, pixel/label digest, method, parameters, cache version)."""
    payload = {
        "v": CACHE_VERSION,
        "source": source_name,
        "n": int(len(images)),
        "digest": _digest(images, labels),
        "method": method,
        "params": params,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _cluster(
    pixels: np.ndarray, method: str, n_clusters: int, seed: int, perplexity: float, pca_components: int, n_init: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assignments, representatives and a 2-D embedding of flattened float pixels ``(N, P)``."""
    from sklearn.cluster import KMeans

    if method == "tsne_kmeans":
        from sklearn.manifold import TSNE

        features = TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(pixels)
        embedding = features
    else:
        from sklearn.decomposition import PCA

        comps = min(pca_components, pixels.shape[0], pixels.shape[1])
        features = PCA(n_components=comps, svd_solver="randomized", random_state=seed).fit_transform(pixels)
        embedding = features[:, :2]
    features = np.ascontiguousarray(features, dtype=np.float64)
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
) -> SimilarityTable:
    """Cluster ``images`` ``(N, H, W)`` uint8 with ``labels`` ``(N,)`` into a :class:`SimilarityTable`.

    With ``use_cache`` the table is read from / written to ``cache_dir`` (default
    :func:`default_cache_dir`) under ``similarity/<method>-<key>.npz``; an unreadable cache file is
    rebuilt and replaced.
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
    key = cache_key(source_name, images, labels, method, params)
    path = os.path.join(cache_dir or default_cache_dir(), "similarity", f"{method}-{key}.npz")
    t0 = time.perf_counter()
    if use_cache and os.path.exists(path):
        try:
            with np.load(path) as z:
                assign, reps, embedding = z["assignments"], z["representatives"], z["embedding"]
            if assign.shape != (n,):
                raise ValueError(f"cached assignments have shape {assign.shape}, expected ({n},)")
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
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            log.warning("similarity cache %s is unreadable (%s); rebuilding it", path, err)
    pixels = images.reshape(n, -1).astype(np.float32) / 255.0
    assign, reps, embedding = _cluster(pixels, method, n_clusters, seed, perplexity, pca_components, n_init)
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
        _save(path, table)
    _report_skipped(table, source_name)
    return table


def _save(path: str, table: SimilarityTable) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(
            tmp,
            assignments=table.assignments.numpy(),
            representatives=table.representatives.cpu().numpy(),
            embedding=table.embedding.numpy(),
            meta=np.array(json.dumps({"method": table.method, **table.params})),
        )
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
