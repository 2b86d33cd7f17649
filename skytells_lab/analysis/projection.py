"""Projector: PCA, t-SNE or UMAP of embedding vectors to 2 or 3 dimensions, as one estimator.

Imports scikit-learn at import time (BaseEstimator, for clone and Pipeline); `skytells_lab.analysis`
loads it on first use. umap-learn is imported only for method="umap".
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

METHODS = ("pca", "tsne", "umap")


def _tsne_pca_init(X: np.ndarray, n_components: int, random_state) -> np.ndarray:
    """sklearn TSNE's init="pca", which it refuses with metric="precomputed": PCA scaled so the first
    component's standard deviation is 1e-4 (sklearn.manifold._t_sne, TSNE._fit)."""
    from sklearn.decomposition import PCA
    from sklearn.utils import check_random_state

    embedded = PCA(n_components, random_state=check_random_state(random_state)).fit_transform(X)
    embedded = embedded.astype(np.float32, copy=False)
    return embedded / np.std(embedded[:, 0]) * 1e-4


class Projector(TransformerMixin, BaseEstimator):
    """Project vectors to `n_components` dimensions for plotting.

    Parameters
    ----------
    method : "pca" | "tsne" | "umap"
    n_components : 2 or 3 usually.
    normalize : L2-normalize rows first, so the map reflects cosine geometry (default True).
    params : extra keyword arguments for the underlying estimator (e.g. {"perplexity": 50} for t-SNE,
        {"n_neighbors": 30} for UMAP).
    neighbors : "auto" | "exact" | "approximate": the kNN graph t-SNE and UMAP are given
        (skytells_lab.analysis.precomputed) instead of searching themselves. t-SNE always uses one
        ("auto": exact up to 50,000 rows, the HNSW graph above; 3 x perplexity + 1 neighbours, as
        sklearn's own search). UMAP uses one only when "exact"/"approximate" is given: under "auto" it
        keeps its own NNDescent graph (itself approximate), whose index `transform` needs to place rows.
    random_state : seed.

    Learned: `embedding_` (the training rows' coordinates), `estimator_`, `graph_` ("exact",
    "approximate" or None: the kNN graph the fit was given). `transform` places new rows into
    the fitted map for PCA and UMAP (not UMAP fitted on a given graph); t-SNE has no out-of-sample
    transform and raises. `fit` takes a ready KNNGraph of all rows as `knn`.
    """

    def __init__(self, method="pca", n_components=2, *, normalize=True, params=None, neighbors="auto",
                 random_state=0):
        self.method = method
        self.n_components = n_components
        self.normalize = normalize
        self.params = params
        self.neighbors = neighbors
        self.random_state = random_state

    def _prepare(self, X) -> np.ndarray:
        from skytells_lab.analysis.search import is_unit, unit_rows

        X = np.ascontiguousarray(X, dtype=np.float32)
        return unit_rows(X) if self.normalize and not is_unit(X) else X

    def _estimator(self, n: int, **extra):
        params = {**(self.params or {}), **extra}
        if self.method == "pca":
            from sklearn.decomposition import PCA

            return PCA(self.n_components, random_state=self.random_state, **params)
        if self.method == "tsne":
            from sklearn.manifold import TSNE

            params.setdefault("perplexity", float(min(30, max(2, (n - 1) // 3))))
            params.setdefault("init", "pca")
            return TSNE(self.n_components, metric="cosine", random_state=self.random_state, **params)
        try:
            import umap
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("method='umap' needs umap-learn: pip install 'skytells-lab[faiss]'") from exc
        params.setdefault("n_neighbors", min(15, max(2, n - 1)))
        return umap.UMAP(n_components=self.n_components, metric="cosine", random_state=self.random_state,
                         **params)

    def graph_k(self, n: int) -> int | None:
        """Neighbours per row the method takes from a kNN graph of n rows (None: it takes none)."""
        params = self.params or {}
        if self.method == "tsne":
            perplexity = params.get("perplexity", float(min(30, max(2, (n - 1) // 3))))
            return min(n - 1, int(3.0 * perplexity + 1))
        if self.method == "umap":
            return min(params.get("n_neighbors", 15), n - 1)  # umap counts the row itself
        return None

    def uses_graph(self, n: int) -> str | None:
        """"exact" or "approximate" when fitting n rows uses a kNN graph, else None."""
        from skytells_lab.analysis.precomputed import resolve_neighbors

        method = resolve_neighbors(self.neighbors, n)
        if self.method == "pca" or (self.method == "umap" and self.neighbors == "auto"):
            return None
        return method

    def fit(self, X, y=None, *, knn=None):
        """Learn the map of the rows of `X` (n, d); `y` is ignored; `knn`: a precomputed kNN graph of X
        (skytells_lab.analysis.precomputed) for the methods that take one. Returns self, with ``embedding_``."""
        from skytells_lab.analysis import precomputed

        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        X = self._prepare(X)
        n = len(X)
        self.estimator_ = self._estimator(n)
        graph_method = self.uses_graph(n)
        fit_input = X
        if graph_method is not None:
            k = self.graph_k(n)
            if knn is None:
                knn = precomputed.knn_of(X, k, graph_method)
            if self.method == "tsne":
                fit_input = precomputed.distance_graph(knn, k, n)
                init = self.estimator_.init
                if isinstance(init, str) and init == "pca":  # sklearn refuses "pca" with precomputed:
                    init = _tsne_pca_init(X, self.n_components, self.random_state)  # its own recipe
                self.estimator_.set_params(metric="precomputed", init=init)
            else:
                self.estimator_ = self._estimator(n, precomputed_knn=precomputed.umap_knn(knn, k, n))
        self.graph_ = graph_method
        self.embedding_ = np.asarray(self.estimator_.fit_transform(fit_input), dtype=np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """The map's coordinates (n, n_components) of the rows of `X`, fitted on them; `y` is ignored."""
        return self.fit(X).embedding_

    def transform(self, X):
        """Coordinates of new rows in the fitted map (PCA, UMAP)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimator_")
        if self.method == "tsne":
            raise NotImplementedError("t-SNE cannot place new points into an existing map; "
                                      "use method='pca' or 'umap'")
        if self.method == "umap" and self.graph_ is not None:
            raise NotImplementedError("UMAP fitted on a given kNN graph has no search index to place new "
                                      "points: fit with neighbors='auto' to place points later")
        return np.asarray(self.estimator_.transform(self._prepare(X)), dtype=np.float32)
