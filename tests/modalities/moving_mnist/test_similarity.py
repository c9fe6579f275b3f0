"""Similar-digit tables: representatives nearest the centres, candidates of another label, the cache,
skipped clusters, the scalable PCA option and the errors."""

import json
import logging
import re
import time
import zipfile

import numpy as np
import pytest
import torch

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.modalities.moving_mnist.similarity import SimilarityTable, build_similarity_table, cache_key


def check_table(table, labels):
    n = len(labels)
    assign, reps = table.assignments, table.representatives
    assert assign.shape == (n,) and reps.shape == (table.num_clusters,)
    assert torch.equal(assign[reps], torch.arange(table.num_clusters))
    for c in range(table.num_clusters):  # every member is listed once, split by label
        rows = torch.nonzero(assign == c).flatten()
        rep_label = int(labels[reps[c]])
        same = table.members[c, : table.member_counts[c]]
        other = table.candidates[c, : table.candidate_counts[c]]
        assert sorted(same.tolist() + other.tolist()) == rows.tolist()
        assert bool((labels[same] == rep_label).all()) and bool((labels[other] != rep_label).all())
    assert table.usable.tolist() == [c for c in range(table.num_clusters) if table.candidate_counts[c] > 0]


def test_tsne_table_is_seeded_cached_and_consistent(mnist_train, tmp_path):
    images, labels = mnist_train.images[:300], mnist_train.labels[:300]
    kw = dict(method="tsne_kmeans", n_clusters=10, seed=1, source_name="mnist-300", cache_dir=str(tmp_path))
    first = build_similarity_table(images, labels, **kw)
    assert not first.from_cache and first.embedding.shape == (300, 2)
    check_table(first, labels)
    assert len(list((tmp_path / "similarity").glob("tsne_kmeans-*.npz"))) == 1
    t0 = time.perf_counter()
    again = build_similarity_table(images, labels, **kw)
    assert again.from_cache and time.perf_counter() - t0 < 1.0
    assert torch.equal(again.assignments, first.assignments) and torch.equal(
        again.representatives, first.representatives
    )
    # the same seed without the cache gives the same clustering
    fresh = build_similarity_table(images, labels, **{**kw, "use_cache": False})
    assert torch.equal(fresh.assignments, first.assignments)
    # the representative is the member nearest its K-Means centre in the embedding
    from sklearn.cluster import KMeans

    emb = first.embedding.numpy().astype(np.float64)
    km = KMeans(n_clusters=10, n_init=10, random_state=1).fit(emb)
    assert np.array_equal(km.labels_, first.assignments.numpy())
    for c in range(first.num_clusters):
        rows = np.nonzero(km.labels_ == c)[0]
        nearest = rows[((emb[rows] - km.cluster_centers_[c]) ** 2).sum(1).argmin()]
        assert nearest == int(first.representatives[c])


def test_cache_key_changes_with_source_and_every_parameter(mnist_train):
    images, labels = mnist_train.images[:50].numpy(), mnist_train.labels[:50].numpy()
    base = cache_key("a", images, labels, "tsne_kmeans", {"n_clusters": 30, "seed": 0})
    assert base == cache_key("a", images.copy(), labels.copy(), "tsne_kmeans", {"seed": 0, "n_clusters": 30})
    other_pixels = images.copy()
    other_pixels[0, 0, 0] ^= 1
    variants = [
        cache_key("b", images, labels, "tsne_kmeans", {"n_clusters": 30, "seed": 0}),
        cache_key("a", other_pixels, labels, "tsne_kmeans", {"n_clusters": 30, "seed": 0}),
        cache_key("a", images, labels, "pca_kmeans", {"n_clusters": 30, "seed": 0}),
        cache_key("a", images, labels, "tsne_kmeans", {"n_clusters": 31, "seed": 0}),
        cache_key("a", images, labels, "tsne_kmeans", {"n_clusters": 30, "seed": 1}),
    ]
    assert len({base, *variants}) == 6


def test_pca_option_scales_to_the_whole_split(pca_table, mnist_train):
    assert pca_table.method == "pca_kmeans" and pca_table.num_clusters == 30
    check_table(pca_table, mnist_train.labels)
    assert set(pca_table.skipped) == set(range(30)) - set(pca_table.usable.tolist())
    summary = pca_table.summary()
    assert sum(summary["cluster_sizes"]) == len(mnist_train) and summary["usable"] == len(pca_table.usable)


def test_clusters_without_another_label_are_reported_and_skipped(caplog):
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    assign = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])  # cluster 0 is all zeros, cluster 2 all twos
    table = SimilarityTable(assign, torch.tensor([0, 3, 6]), labels, torch.zeros(8, 2))
    assert table.usable.tolist() == [1] and table.skipped == [0, 2]
    assert table.candidates[1, : table.candidate_counts[1]].tolist() == [5]
    images = np.zeros((40, 4, 4), dtype=np.uint8)
    images[20:, 0, 0] = 255  # two far-apart groups, each of one label: nothing can make an anomaly
    with pytest.raises(ConfigError, match="no cluster of 'pure' has a member of another label"):
        build_similarity_table(
            images,
            np.repeat([3, 4], 20),
            method="pca_kmeans",
            n_clusters=2,
            source_name="pure",
            pca_components=2,
            use_cache=False,
        )
    labels = np.repeat([3, 4], 20)
    labels[0] = 4  # now one cluster has a candidate: the other is skipped with a warning
    with caplog.at_level(logging.WARNING):
        table = build_similarity_table(
            images, labels, method="pca_kmeans", n_clusters=2, source_name="mixed", pca_components=2, use_cache=False
        )
    assert len(table.skipped) == 1 and "skipped" in caplog.text


def test_errors_name_the_value(mnist_train, tmp_path):
    images, labels = mnist_train.images[:20], mnist_train.labels[:20]
    with pytest.raises(ConfigError, match="similarity.method='umap'"):
        build_similarity_table(images, labels, method="umap")
    with pytest.raises(ConfigError, match="n_clusters=30 exceeds the 20 images"):
        build_similarity_table(images, labels, method="pca_kmeans", use_cache=False)
    with pytest.raises(ConfigError, match="perplexity=30.0 needs more than 90 images"):
        build_similarity_table(images, labels, n_clusters=5, use_cache=False)


def test_unreadable_cache_is_rebuilt(mnist_train, tmp_path):
    images, labels = mnist_train.images[:60], mnist_train.labels[:60]
    kw = dict(method="pca_kmeans", n_clusters=5, pca_components=5, source_name="s", cache_dir=str(tmp_path))
    first = build_similarity_table(images, labels, **kw)
    (path,) = (tmp_path / "similarity").glob("*.npz")
    path.write_bytes(b"not a zip")
    again = build_similarity_table(images, labels, **kw)
    assert not again.from_cache and torch.equal(again.assignments, first.assignments)
    assert build_similarity_table(images, labels, **kw).from_cache


CACHE_KW = dict(method="pca_kmeans", n_clusters=5, pca_components=5, n_init=2, source_name="s")


def small_build(mnist_train, tmp_path, caplog, start=0, **kw):
    images, labels = mnist_train.images[start : start + 60], mnist_train.labels[start : start + 60]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="anomaly_lab.modalities.moving_mnist.similarity"):
        return build_similarity_table(images, labels, cache_dir=str(tmp_path), **{**CACHE_KW, **kw})


def cache_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("similarity cache")]


def test_a_cache_of_other_inputs_is_rebuilt_with_one_line(mnist_train, tmp_path, caplog):
    other = small_build(mnist_train, tmp_path / "a", caplog, start=60)  # other images, same shape
    first = small_build(mnist_train, tmp_path / "b", caplog)
    (src,) = (tmp_path / "a" / "similarity").glob("*.npz")
    (dst,) = (tmp_path / "b" / "similarity").glob("*.npz")
    assert src.name != dst.name and not torch.equal(other.assignments, first.assignments)
    dst.write_bytes(src.read_bytes())  # structurally valid, but built from other images
    again = small_build(mnist_train, tmp_path / "b", caplog)
    (line,) = cache_warnings(caplog)
    assert "does not match its inputs: it was built from other inputs (differing: digest); rebuilding it" in line
    assert not again.from_cache and torch.equal(again.assignments, first.assignments)
    assert small_build(mnist_train, tmp_path / "b", caplog).from_cache and not cache_warnings(caplog)


def test_edited_or_old_cache_contents_are_rebuilt(mnist_train, tmp_path, caplog):
    first = small_build(mnist_train, tmp_path, caplog)
    (path,) = (tmp_path / "similarity").glob("*.npz")
    with np.load(path, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    swapped = saved["assignments"].copy()  # swap two clusters' ids: a valid table, wrong contents
    a, b = swapped == 0, swapped == 1
    swapped[a], swapped[b] = 1, 0
    reps = saved["representatives"][[1, 0, 2, 3, 4]]
    cases = {
        "its arrays do not match their recorded digest": {**saved, "assignments": swapped, "representatives": reps},
        "it records no inputs (an older cache format)": {k: v for k, v in saved.items() if k != "meta"},
        "it is in cache format 1 (an older version's), not 2": {
            **saved,
            "meta": np.array(json.dumps({"method": "pca_kmeans", "n_clusters": 5})),  # what format 1 wrote
        },
    }
    for reason, arrays in cases.items():
        np.savez(path, **arrays)
        again = small_build(mnist_train, tmp_path, caplog)
        (line,) = cache_warnings(caplog)
        assert reason in line and line.endswith("rebuilding it")
        assert not again.from_cache and torch.equal(again.assignments, first.assignments)
        with np.load(path, allow_pickle=False) as z:
            assert np.array_equal(z["assignments"], saved["assignments"])  # replaced by the rebuilt table


def test_a_cache_is_never_unpickled_nor_sized_by_its_header(mnist_train, tmp_path, caplog):
    import builtins

    first = small_build(mnist_train, tmp_path, caplog)
    (path,) = (tmp_path / "similarity").glob("*.npz")

    class Payload:
        def __reduce__(self):
            return (exec, ("import builtins; builtins.mmnist_payload_ran = True",))

    with np.load(path, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    np.savez(path, **{**saved, "meta": np.array([Payload()], dtype=object)}, allow_pickle=True)
    again = small_build(mnist_train, tmp_path, caplog)
    assert not hasattr(builtins, "mmnist_payload_ran") and not again.from_cache
    assert "is unreadable" in cache_warnings(caplog)[0]
    # a header that declares 8 TB in a file of a few bytes is refused before anything is allocated
    with zipfile.ZipFile(path, "w") as zf, zf.open("assignments.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
        f.write(b"\0" * 64)
    again = small_build(mnist_train, tmp_path, caplog)
    (line,) = cache_warnings(caplog)
    assert "its array assignments.npy declares 8000000000000 bytes" in line
    assert torch.equal(again.assignments, first.assignments)


def test_a_build_reports_its_stages_with_times(mnist_train, tmp_path, caplog, capsys):
    small_build(mnist_train, tmp_path, caplog, progress=True)
    title = "similarity table of s (pca_kmeans, 60 images)"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(title)]
    assert lines[0] == f"{title}: building (3 stages)"
    assert [re.sub(r"took \d+\.\d s", "took _", line) for line in lines[1:]] == [
        f"{title}: PCA of 60 images to 5 dimensions took _",
        f"{title}: K-Means (5 clusters, 2 restarts) took _",
        f"{title}: saving the cache {next((tmp_path / 'similarity').glob('*.npz'))} took _",
    ]
    assert "3/3" in capsys.readouterr().err  # the bar, forced on (by default only on a terminal)
    assert small_build(mnist_train, tmp_path, caplog, progress=True).from_cache
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    assert capsys.readouterr().err == ""
