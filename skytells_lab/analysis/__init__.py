"""Embedding-space analysis: search, neighbours, clusters, maps, cluster labels, plots, comparisons.

    space = EmbeddingSpace.from_texts(df["text"], client=client)   # or EmbeddingSpace(vectors, data=df)
    space.search("query", k=10); space.cluster(); space.project(); space.label_clusters(); space.plot()
    compare_spaces(space_a, space_b)

Importing this package loads numpy and pandas only; scikit-learn, matplotlib, faiss and umap-learn
are imported on first use (Clusterer and Projector subclass scikit-learn's BaseEstimator, so their
modules load on first access to those names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skytells_lab._lazy import lazy_exports
from skytells_lab.analysis.compare import SpaceComparison, compare_spaces
from skytells_lab.analysis.evaluation import clustering_scores, knn_accuracy
from skytells_lab.analysis.io import load_space, save_space
from skytells_lab.analysis.labels import cluster_terms, name_clusters
from skytells_lab.analysis.neighbors import KNNGraph, knn_graph, near_duplicates
from skytells_lab.analysis.plotting import plot_space
from skytells_lab.analysis.search import faiss_topk, numpy_topk
from skytells_lab.analysis.space import EmbeddingSpace

_LAZY = {
    "Clusterer": "skytells_lab.analysis.clustering",
    "choose_k": "skytells_lab.analysis.clustering",
    "Projector": "skytells_lab.analysis.projection",
}

__all__ = [
    "Clusterer",
    "EmbeddingSpace",
    "KNNGraph",
    "Projector",
    "SpaceComparison",
    "choose_k",
    "cluster_terms",
    "clustering_scores",
    "compare_spaces",
    "faiss_topk",
    "knn_accuracy",
    "knn_graph",
    "load_space",
    "name_clusters",
    "near_duplicates",
    "numpy_topk",
    "plot_space",
    "save_space",
]


__getattr__, __dir__ = lazy_exports(globals(), _LAZY, __all__)


if TYPE_CHECKING:  # pragma: no cover
    from skytells_lab.analysis.clustering import Clusterer, choose_k
    from skytells_lab.analysis.projection import Projector
