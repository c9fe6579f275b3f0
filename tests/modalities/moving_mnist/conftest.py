import pytest

from anomaly_lab.modalities.moving_mnist import MovingMnistGenerator, build_similarity_table


@pytest.fixture(scope="session")
def pca_table(mnist_train, tmp_path_factory):
    """The scalable clustering of the bundled train split (a few seconds, cached per session)."""
    return build_similarity_table(
        mnist_train.images,
        mnist_train.labels,
        method="pca_kmeans",
        n_clusters=30,
        n_init=2,
        source_name=mnist_train.name,
        cache_dir=str(tmp_path_factory.mktemp("sim")),
    )


@pytest.fixture(scope="session")
def make_gen(mnist_train, pca_table):
    def make(**kw):
        kw.setdefault("seed", 3)
        return MovingMnistGenerator(source=mnist_train, similarity=pca_table, device="cpu", **kw)

    return make
