"""cluster()/project() given the space's kNN graph: the same results as the estimators searching
neighbours themselves (exact graph), near-identical ones from the HNSW graph."""

import numpy as np
import pytest
from scipy.sparse import csgraph
from sklearn.cluster import HDBSCAN, AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import kneighbors_graph

from skytells_lab.analysis import Clusterer, EmbeddingSpace, precomputed
from skytells_lab.analysis.search import unit_rows


def _noisy_clusters(n=2000, d=32, clusters=8, spread=2.4, seed=1):
    """Overlapping clusters with noise points (HDBSCAN labels some -1) whose 15-NN graph falls apart."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)) * 3
    truth = rng.integers(0, clusters, n)
    return unit_rows((centers[truth] + rng.standard_normal((n, d)) * spread).astype(np.float32)), truth


@pytest.fixture(scope="module")
def noisy():
    return _noisy_clusters()


def test_distance_graph_has_the_kneighbors_transformer_layout(noisy):
    X, _ = noisy
    knn = precomputed.knn_of(X, 10, "exact")
    graph = precomputed.distance_graph(knn, 10, len(X))
    reference = kneighbors_graph(X, 11, mode="distance", metric="cosine", include_self=True)
    assert graph.nnz == len(X) * 11 and (graph.diagonal() == 0).all()
    np.testing.assert_array_equal(np.sort(graph.indices.reshape(-1, 11), 1),
                                  np.sort(reference.indices.reshape(-1, 11), 1))
    np.testing.assert_allclose(graph.sum(axis=1).A1, reference.sum(axis=1).A1, atol=1e-4)


def test_symmetric_connected_joins_components_and_keeps_each_row_itself(noisy):
    X, _ = noisy
    graph = precomputed.distance_graph(precomputed.knn_of(X, 15, "exact"), 15, len(X))
    assert csgraph.connected_components(graph, directed=False)[0] > 1  # the case worth testing
    joined = precomputed.symmetric_connected(graph, X)
    assert csgraph.connected_components(joined, directed=False)[0] == 1
    assert abs(joined - joined.T).max() == 0
    assert (joined.getnnz(axis=1) >= 16).all()  # the explicit zero on the diagonal stays
    np.testing.assert_array_equal(joined.diagonal(), 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hdbscan_on_the_graph_matches_hdbscan_searching_itself(seed):
    # overlapping clusters with noise: the hard case (measured ARI, exact 0.988-1.0, HNSW 0.966-0.999). The
    # HNSW graph finds 0.998 of the exact neighbours here; HDBSCAN's hierarchy on overlapping clusters moves a
    # few borderline points for the last missing ones (the sparser M=16 graph scored 0.977 on seed 3).
    X, _ = _noisy_clusters(seed=seed)
    reference = HDBSCAN(min_cluster_size=10, copy=True).fit_predict(X)
    assert (reference == -1).sum() > 50
    exact = Clusterer("hdbscan", min_cluster_size=10, neighbors="exact").fit(X).labels_
    assert adjusted_rand_score(reference, exact) >= 0.98
    approximate = Clusterer("hdbscan", min_cluster_size=10, neighbors="approximate").fit(X).labels_
    assert adjusted_rand_score(reference, approximate) >= 0.96
    found = precomputed.knn_of(unit_rows(X), 10, "approximate").indices
    truth = precomputed.knn_of(unit_rows(X), 10, "exact").indices
    assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(found, truth, strict=True)]) / 10 >= 0.99


def test_hdbscan_on_well_separated_clusters_is_identical(blobs):
    X, truth = blobs
    reference = HDBSCAN(min_cluster_size=20, copy=True).fit_predict(unit_rows(X))
    for neighbors in ("exact", "approximate"):
        ours = Clusterer("hdbscan", min_cluster_size=20, neighbors=neighbors).fit(X).labels_
        assert adjusted_rand_score(reference, ours) == 1.0 and adjusted_rand_score(truth, ours) == 1.0


def test_agglomerative_connectivity_is_sklearns_kneighbors_graph():
    # a connected 15-NN graph, so joining components plays no part: the same edges as sklearn's
    X, _ = _noisy_clusters(spread=4.0)
    connectivity = kneighbors_graph(X, 15, metric="cosine")
    assert csgraph.connected_components(connectivity, directed=False)[0] == 1
    expected = ((connectivity + connectivity.T) > 0).astype(np.int8)
    for neighbors in ("exact", "approximate"):
        ours = Clusterer("agglomerative", 8, neighbors=neighbors).fit(X).estimator_.connectivity.copy()
        ours.setdiag(0)
        ours.eliminate_zeros()
        differing = abs((ours > 0).astype(np.int8) - expected).sum()
        assert differing == 0 if neighbors == "exact" else differing < 0.01 * expected.nnz


def test_agglomerative_on_the_graph_clusters_like_sklearn(blobs):
    X, truth = blobs
    X = unit_rows(X)
    with pytest.warns(UserWarning, match="connected components"):  # sklearn joins the 4 blobs itself
        reference = AgglomerativeClustering(4, metric="cosine", linkage="average",
                                            connectivity=kneighbors_graph(X, 15, metric="cosine")).fit_predict(X)
    for neighbors in ("exact", "approximate"):
        ours = Clusterer("agglomerative", 4, neighbors=neighbors).fit(X).labels_
        assert adjusted_rand_score(reference, ours) == 1.0 and adjusted_rand_score(truth, ours) == 1.0


def test_agglomerative_auto_keeps_all_pairs_below_the_limit_and_uses_the_graph_above(blobs, monkeypatch):
    from skytells_lab.analysis import clustering

    X, truth = blobs
    assert Clusterer("agglomerative", 4).uses_graph(len(X)) is None
    monkeypatch.setattr(clustering, "AGGLOMERATIVE_MAX", 100)
    fitted = Clusterer("agglomerative", 4).fit(X)
    assert fitted.estimator_.connectivity is not None
    assert adjusted_rand_score(truth, fitted.labels_) == 1.0


def test_space_cluster_passes_the_spaces_graph(noisy, monkeypatch):
    X, _ = noisy
    space = EmbeddingSpace(X)
    calls = []
    original = EmbeddingSpace.neighbors

    def recording(self, k=10, **kw):
        calls.append((k, kw.get("method")))
        return original(self, k, **kw)

    monkeypatch.setattr(EmbeddingSpace, "neighbors", recording)
    space.cluster("hdbscan", min_cluster_size=10, neighbors="approximate")
    assert calls == [(64, "approximate")] and space._hnsw is not None
    reference = HDBSCAN(min_cluster_size=10, copy=True).fit_predict(X)
    assert adjusted_rand_score(reference, space.data["cluster"]) >= 0.99
    space.cluster("kmeans", 8)
    assert len(calls) == 1  # KMeans needs no neighbours


def test_neighbors_mode_is_checked(blobs):
    with pytest.raises(ValueError, match="neighbors must be one of"):
        Clusterer("hdbscan", neighbors="hnsw").fit(blobs[0])
    assert precomputed.resolve_neighbors("auto", precomputed.EXACT_MAX) == "exact"
    assert precomputed.resolve_neighbors("auto", precomputed.EXACT_MAX + 1) == "approximate"


def test_space_project_tsne_uses_the_spaces_graph(blobs, monkeypatch):
    X, _ = blobs
    space = EmbeddingSpace(X)
    calls = []
    original = EmbeddingSpace.neighbors

    def recording(self, k=10, **kw):
        calls.append((k, kw.get("method")))
        return original(self, k, **kw)

    monkeypatch.setattr(EmbeddingSpace, "neighbors", recording)
    space.project("tsne", neighbors="approximate", max_iter=250)
    assert calls == [(91, "approximate")]  # 3 x perplexity + 1 at the default perplexity 30
    assert space.projector_.graph_ == "approximate" and space.data[["x", "y"]].notna().all().all()
    space.project("pca")
    assert len(calls) == 1
