import os
import sys
import types

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from skytells_lab.analysis import EmbeddingSpace, Projector
from skytells_lab.analysis.search import unit_rows


def test_pca_map_and_new_points_equal_sklearn(blobs, rng):
    vectors, _ = blobs
    new = rng.standard_normal((5, vectors.shape[1])).astype(np.float32)
    projector = Projector("pca").fit(vectors)
    reference = PCA(2, random_state=0).fit(unit_rows(vectors))
    np.testing.assert_allclose(projector.embedding_, reference.transform(unit_rows(vectors)), atol=1e-4)
    np.testing.assert_allclose(projector.transform(new), reference.transform(unit_rows(new)), atol=1e-4)


def test_tsne_maps_but_cannot_place_new_points(blobs):
    vectors, _ = blobs
    projector = Projector("tsne", params={"max_iter": 250}).fit(vectors[::4])
    assert projector.embedding_.shape == (60, 2)
    with pytest.raises(NotImplementedError, match="t-SNE"):
        projector.transform(vectors[:2])


class _FakeUMAP:
    """Stands in for umap.UMAP (its numba compilation takes minutes on 2 cores): records the arguments."""

    def __init__(self, **params):
        self.params = params
        self.pca = PCA(params["n_components"])

    def fit_transform(self, X):
        return self.pca.fit_transform(X)

    def transform(self, X):
        return self.pca.transform(X)


def test_umap_is_called_with_cosine_and_places_new_points(blobs, monkeypatch):
    vectors, _ = blobs
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=_FakeUMAP))
    projector = Projector("umap", params={"n_epochs": 50}).fit(vectors)
    assert projector.estimator_.params == {"n_components": 2, "metric": "cosine", "random_state": 0,
                                           "n_epochs": 50, "n_neighbors": 15}
    assert projector.transform(vectors[:3]).shape == (3, 2)


@pytest.mark.skipif(not os.environ.get("SKYTELLS_LAB_SLOW_TESTS"),
                    reason="real UMAP compiles for minutes: set SKYTELLS_LAB_SLOW_TESTS=1")
def test_real_umap_places_new_points(blobs):
    pytest.importorskip("umap")
    vectors, _ = blobs
    projector = Projector("umap", params={"n_epochs": 50}).fit(vectors)
    assert projector.embedding_.shape == (240, 2)
    placed = projector.transform(vectors[:3])
    assert placed.shape == (3, 2) and np.isfinite(placed).all()


def test_projector_is_a_pipeline_step(blobs):
    vectors, _ = blobs
    coords = make_pipeline(Projector("pca", 3)).fit_transform(vectors)
    assert coords.shape == (240, 3)


def test_space_project_stores_columns_and_places_points(blobs):
    vectors, _ = blobs
    space = EmbeddingSpace(vectors).project("pca")
    assert {"x", "y"} <= set(space.data.columns)
    placed = space.place(vectors[:4])
    np.testing.assert_allclose(placed[["x", "y"]].to_numpy(), space.data[["x", "y"]].to_numpy()[:4],
                               atol=1e-5)
    sampled = EmbeddingSpace(vectors).project("pca", sample=100)
    assert sampled.data[["x", "y"]].notna().all().all()


def test_place_needs_a_map(blobs):
    with pytest.raises(ValueError, match="project"):
        EmbeddingSpace(blobs[0]).place(blobs[0][:1])


def test_tsne_on_the_exact_graph_is_sklearns_tsne(blobs):
    """The precomputed exact graph with sklearn's own PCA init: the map TSNE(metric="cosine") draws.
    (Not to the bit: float32 distances against sklearn's float64 ones, amplified by 300 iterations.)"""
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE, trustworthiness
    from sklearn.metrics import adjusted_rand_score

    vectors, truth = blobs
    unit = unit_rows(vectors)
    projector = Projector("tsne", params={"max_iter": 300}, neighbors="exact").fit(vectors)
    assert projector.graph_ == "exact" and projector.estimator_.metric == "precomputed"
    reference = TSNE(2, metric="cosine", init="pca", perplexity=30.0, max_iter=300,
                     random_state=0).fit_transform(unit)
    for embedding in (projector.embedding_, reference):  # the blobs land apart in both maps
        assert adjusted_rand_score(truth, KMeans(4, n_init=3, random_state=0).fit_predict(embedding)) == 1.0
    trust = [trustworthiness(unit, e, n_neighbors=10, metric="cosine") for e in (projector.embedding_, reference)]
    assert abs(trust[0] - trust[1]) < 0.01
    # the starting map is sklearn's init="pca" exactly
    from sklearn.decomposition import PCA

    from skytells_lab.analysis.projection import _tsne_pca_init

    start = PCA(2, random_state=np.random.RandomState(0)).fit_transform(unit).astype(np.float32)
    np.testing.assert_allclose(_tsne_pca_init(unit, 2, 0), start / np.std(start[:, 0]) * 1e-4, rtol=1e-4, atol=1e-9)


def test_tsne_on_the_hnsw_graph_keeps_the_neighbourhoods(blobs):
    from sklearn.manifold import trustworthiness

    vectors, _ = blobs
    projector = Projector("tsne", params={"max_iter": 300}, neighbors="approximate").fit(vectors)
    assert projector.graph_ == "approximate"
    assert trustworthiness(unit_rows(vectors), projector.embedding_, n_neighbors=10, metric="cosine") > 0.95


def test_umap_given_a_graph_gets_umaps_precomputed_knn_layout(blobs, monkeypatch):
    from sklearn.neighbors import NearestNeighbors

    vectors, _ = blobs
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=_FakeUMAP))
    assert Projector("umap").fit(vectors).graph_ is None  # "auto": UMAP's own graph, transform works
    projector = Projector("umap", neighbors="exact").fit(vectors)
    indices, distances = projector.estimator_.params["precomputed_knn"]
    # umap's own nearest_neighbors layout: 15 columns, the row itself first at distance 0
    ref_d, ref_i = NearestNeighbors(n_neighbors=15, metric="cosine").fit(unit_rows(vectors)).kneighbors()
    np.testing.assert_array_equal(indices[:, 0], np.arange(len(vectors)))
    np.testing.assert_array_equal(distances[:, 0], 0)
    np.testing.assert_array_equal(np.sort(indices[:, 1:], 1), np.sort(ref_i[:, :14], 1))
    np.testing.assert_allclose(distances[:, 1:], ref_d[:, :14], atol=1e-5)
    with pytest.raises(NotImplementedError, match="neighbors='auto'"):
        projector.transform(vectors[:2])
