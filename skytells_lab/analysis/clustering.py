"""Clusterer: one scikit-learn estimator over KMeans, HDBSCAN and agglomerative clustering.

This module imports scikit-learn at import time (the estimator subclasses BaseEstimator so it clones
and drops into a Pipeline); `skytells_lab.analysis` loads it only when `Clusterer` or `choose_k` is
first used.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

METHODS = ("kmeans", "hdbscan", "agglomerative")
# Above this many rows KMeans becomes MiniBatchKMeans, and choose_k fits and scores on a sample.
LARGE = 20_000
# Agglomerative clustering over all pairs holds O(n^2) distances: beyond this it merges along a kNN graph.
AGGLOMERATIVE_MAX = 20_000


def _rng(random_state):
    return np.random.default_rng(random_state if isinstance(random_state, (int, np.integer)) else None)


def _unit(X) -> np.ndarray:
    from skytells_lab.analysis.search import is_unit, unit_rows

    X = np.ascontiguousarray(X, dtype=np.float32)
    return X if is_unit(X) else unit_rows(X)


def _kmeans(n_clusters: int, n: int, random_state, n_init="auto"):
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n > LARGE:
        return MiniBatchKMeans(n_clusters, random_state=random_state, n_init=n_init, batch_size=4096)
    return KMeans(n_clusters, random_state=random_state, n_init=n_init)


def _cluster_directions(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit mean direction of each cluster (row = label; noise, -1, left out).

    A sparse (clusters x n) indicator times X: no copy of X, which X[labels >= 0] would make."""
    from scipy.sparse import csr_matrix

    kept = np.nonzero(labels >= 0)[0]
    count = int(labels.max()) + 1 if len(kept) else 0
    indicator = csr_matrix((np.ones(len(kept), np.float32), (labels[kept], kept)), shape=(count, len(X)))
    sums = np.asarray(indicator @ X, dtype=np.float32)
    return _unit(sums) if count else sums


def choose_k(X, k_range=range(2, 13), *, sample_size: int = 5000, random_state=0):
    """Pick the number of KMeans clusters with the best silhouette (cosine) over `k_range`.

    Beyond `sample_size` rows, each k is fitted and scored on the same random sample.
    Returns (best_k, scores) where scores is a pandas Series of silhouettes indexed by k.
    """
    import pandas as pd
    from sklearn.metrics import silhouette_score

    X = _unit(X)
    if len(X) > sample_size:
        X = X[np.sort(_rng(random_state).choice(len(X), sample_size, replace=False))]
    ks = [k for k in k_range if 2 <= k < len(X)]
    if not ks:
        raise ValueError(f"no k in {k_range!r} fits {len(X)} items")
    scores = {}
    for k in ks:
        labels = _kmeans(k, len(X), random_state).fit_predict(X)
        scores[k] = silhouette_score(X, labels, metric="cosine") if len(set(labels)) > 1 else -1.0
    series = pd.Series(scores, name="silhouette").rename_axis("k")
    return int(series.idxmax()), series


class Clusterer(ClusterMixin, BaseEstimator):
    """Cluster embedding vectors by cosine geometry (rows are L2-normalized first).

    Parameters
    ----------
    method : "kmeans" | "hdbscan" | "agglomerative"
    n_clusters : int or "auto" (kmeans, agglomerative). "auto" picks k by silhouette over `k_range`.
    k_range : the k tried by "auto".
    min_cluster_size : HDBSCAN's smallest cluster.
    linkage : agglomerative linkage ("average", "complete", "single"; cosine metric).
    sample_size : rows used by choose_k on large inputs.
    neighbors : "auto" | "exact" | "approximate": the kNN graph HDBSCAN and agglomerative clustering are
        given (skytells_lab.analysis.precomputed) instead of searching themselves. HDBSCAN always uses
        one ("auto": exact up to 50,000 rows, the HNSW graph above). Agglomerative uses it as its
        connectivity when "exact"/"approximate" is given, and under "auto" only above 20,000 rows
        (below, it merges over all n^2 distances as before). KMeans needs no neighbours.
    n_neighbors : neighbours per row of that graph (default: HDBSCAN max(64, 4 x min_cluster_size):
        on overlapping noisy clusters its minimum spanning tree needs edges beyond the 30 nearest, where
        ARI against HDBSCAN's own search fell to 0.16-0.80 and at 64 was 0.988-1.0; agglomerative 15).
    random_state : seed.

    Learned: `labels_`, `n_clusters_`, `cluster_centers_` (unit mean direction of each cluster; HDBSCAN
    noise, label -1, has none), `estimator_` (the fitted scikit-learn estimator), `silhouettes_`
    (Series, only when n_clusters="auto"). KMeans becomes MiniBatchKMeans above 20,000 rows.
    `fit` takes a ready KNNGraph of all rows as `knn` (EmbeddingSpace.cluster passes the space's).
    """

    def __init__(self, method="kmeans", n_clusters=8, *, k_range=range(2, 13), min_cluster_size=10,
                 linkage="average", sample_size=5000, neighbors="auto", n_neighbors=None, random_state=0):
        self.method = method
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.min_cluster_size = min_cluster_size
        self.linkage = linkage
        self.sample_size = sample_size
        self.neighbors = neighbors
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def graph_k(self) -> int | None:
        """Neighbours per row the method needs from a kNN graph (None: it needs none)."""
        if self.method == "hdbscan":
            return self.n_neighbors or max(64, 4 * self.min_cluster_size)
        if self.method == "agglomerative":
            return self.n_neighbors or 15
        return None

    def uses_graph(self, n: int) -> str | None:
        """"exact" or "approximate" when fitting n rows uses a kNN graph, else None."""
        from skytells_lab.analysis.precomputed import resolve_neighbors

        method = resolve_neighbors(self.neighbors, n)
        if self.method == "kmeans":
            return None
        if self.method == "agglomerative" and self.neighbors == "auto" and n <= AGGLOMERATIVE_MAX:
            return None
        return method

    def fit(self, X, y=None, *, knn=None):
        from skytells_lab.analysis import precomputed

        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        X = _unit(X)
        n = len(X)
        k = self.n_clusters
        graph_method = self.uses_graph(n)
        if graph_method is not None:
            kk = min(self.graph_k(), n - 1)
            if knn is None:
                knn = precomputed.knn_of(X, kk, graph_method)
        if self.method != "hdbscan" and k == "auto":
            k, self.silhouettes_ = choose_k(X, self.k_range, sample_size=self.sample_size,
                                            random_state=self.random_state)
        fit_input = X
        if self.method == "kmeans":
            self.estimator_ = _kmeans(int(k), n, self.random_state)
        elif self.method == "agglomerative":
            from sklearn.cluster import AgglomerativeClustering

            if graph_method is None:
                self.estimator_ = AgglomerativeClustering(int(k), metric="cosine", linkage=self.linkage)
            else:
                # merges only along the graph's edges (distances recomputed from X for those pairs):
                # memory O(n k) instead of n^2
                connectivity = precomputed.symmetric_connected(precomputed.distance_graph(knn, kk, n), X)
                self.estimator_ = AgglomerativeClustering(int(k), metric="cosine", linkage=self.linkage,
                                                          connectivity=connectivity)
        else:
            from sklearn.cluster import HDBSCAN

            # Euclidean distances between unit vectors (a monotone function of cosine distance), the
            # geometry HDBSCAN had when it searched the unit rows itself with its trees.
            fit_input = precomputed.symmetric_connected(
                precomputed.distance_graph(knn, kk, n, metric="euclidean"), X, metric="euclidean")
            self.estimator_ = HDBSCAN(min_cluster_size=self.min_cluster_size, min_samples=self.min_cluster_size,
                                      metric="precomputed", copy=True)
        self.labels_ = self.estimator_.fit_predict(fit_input).astype(np.int64)
        found = np.unique(self.labels_[self.labels_ >= 0])
        self.n_clusters_ = len(found)
        self.cluster_centers_ = _cluster_directions(X, self.labels_)
        return self

    def predict(self, X):
        """Nearest cluster direction (cosine) for new rows; for KMeans, KMeans' own rule on unit rows."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "cluster_centers_")
        X = _unit(X)
        if self.method == "kmeans":
            return self.estimator_.predict(X).astype(np.int64)
        return np.argmax(X @ self.cluster_centers_.T, axis=1).astype(np.int64)
