"""Projector: PCA, t-SNE or UMAP of embedding vectors to 2 or 3 dimensions, as one estimator.

Imports scikit-learn at import time (BaseEstimator, for clone and Pipeline); `skytells_lab.analysis`
loads it on first use. umap-learn is imported only for method="umap".
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

METHODS = ("pca", "tsne", "umap")


class Projector(TransformerMixin, BaseEstimator):
    """Project vectors to `n_components` dimensions for plotting.

    Parameters
    ----------
    method : "pca" | "tsne" | "umap"
    n_components : 2 or 3 usually.
    normalize : L2-normalize rows first, so the map reflects cosine geometry (default True).
    params : extra keyword arguments for the underlying estimator (e.g. {"perplexity": 50} for t-SNE,
        {"n_neighbors": 30} for UMAP).
    random_state : seed.

    Learned: `embedding_` (the training rows' coordinates), `estimator_`. `transform` places new rows into
    the fitted map for PCA and UMAP; t-SNE has no out-of-sample transform and raises.
    """

    def __init__(self, method="pca", n_components=2, *, normalize=True, params=None, random_state=0):
        self.method = method
        self.n_components = n_components
        self.normalize = normalize
        self.params = params
        self.random_state = random_state

    def _prepare(self, X) -> np.ndarray:
        from skytells_lab.analysis.search import is_unit, unit_rows

        X = np.ascontiguousarray(X, dtype=np.float32)
        return unit_rows(X) if self.normalize and not is_unit(X) else X

    def _estimator(self, n: int):
        params = dict(self.params or {})
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

    def fit(self, X, y=None):
        """Learn the map of the rows of `X` (n, d); `y` is ignored. Returns self, with ``embedding_``."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        X = self._prepare(X)
        self.estimator_ = self._estimator(len(X))
        self.embedding_ = np.asarray(self.estimator_.fit_transform(X), dtype=np.float32)
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
        return np.asarray(self.estimator_.transform(self._prepare(X)), dtype=np.float32)
