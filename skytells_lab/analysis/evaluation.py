"""Research helpers: leave-one-out kNN classification accuracy and clustering agreement with given labels."""

from __future__ import annotations

import numpy as np


def knn_accuracy(unit: np.ndarray, labels, k: int = 10, *, progress: bool | None = None) -> float:
    """Leave-one-out k-NN accuracy: each item takes the majority label of its k nearest other items
    (cosine); ties go to the label whose neighbours are more similar in total."""
    from skytells_lab.analysis.neighbors import knn_graph

    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    graph = knn_graph(unit, k, progress=progress)
    n, c = len(codes), len(classes)
    slots = (np.arange(n)[:, None] * c + codes[graph.indices]).ravel()
    # one vote each, plus a fraction of the similarity (< 1 in total) that only matters on a tie
    votes = np.bincount(slots, weights=1 + graph.scores.ravel() / (2 * k), minlength=n * c).reshape(n, c)
    return float(np.mean(np.argmax(votes, axis=1) == codes))


def clustering_scores(labels_true, labels_pred) -> dict:
    """Adjusted Rand index and normalized mutual information of a clustering against given labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"ari": float(adjusted_rand_score(labels_true, labels_pred)),
            "nmi": float(normalized_mutual_info_score(labels_true, labels_pred))}
