"""kNN graphs handed to scikit-learn and umap-learn in their precomputed-neighbour formats.

cluster() and project() need neighbours in HDBSCAN (core distances and the minimum spanning tree),
agglomerative clustering with a connectivity graph, t-SNE (3 x perplexity + 1 neighbours) and UMAP.
Left to themselves those estimators search with trees or brute force, which at 384 dimensions and a
million rows takes hours; given the space's graph (exact scan, or the HNSW graph above EXACT_MAX rows)
they only do their own part.
"""

from __future__ import annotations

import numpy as np

from skytells_lab.analysis.neighbors import KNNGraph

NEIGHBORS = ("auto", "exact", "approximate")
# neighbors="auto" computes the exact graph up to this many rows and the HNSW graph above: the exact
# graph costs n^2 d, and at 50,000 rows the HNSW graph took 58 s on this 2-core machine under load
# (README, bench_search), the order of the exact scan there; beyond, the exact cost grows as n^2.
EXACT_MAX = 50_000


def resolve_neighbors(neighbors: str, n: int) -> str:
    """"exact" or "approximate" for `neighbors` ("auto" | "exact" | "approximate") at n rows."""
    if neighbors not in NEIGHBORS:
        raise ValueError(f"neighbors must be one of {NEIGHBORS}, got {neighbors!r}")
    if neighbors == "auto":
        return "exact" if n <= EXACT_MAX else "approximate"
    return neighbors


def knn_of(unit: np.ndarray, k: int, method: str, *, progress: bool | None = None) -> KNNGraph:
    """The kNN graph of every row of `unit` (self excluded) by `method` ("exact" | "approximate")."""
    if method == "approximate":
        from skytells_lab.analysis.ann import hnsw_index, hnsw_knn

        return hnsw_knn(hnsw_index(unit, progress=progress), unit, k, progress=progress)
    from skytells_lab.analysis.neighbors import knn_graph

    return knn_graph(unit, k, progress=progress)


def _checked(knn: KNNGraph, k: int, n: int) -> KNNGraph:
    if knn.n != n or len(knn) != n or not np.array_equal(knn.rows, np.arange(n)):
        raise ValueError(f"the kNN graph must cover all {n:,} rows in order; got {len(knn):,} of {knn.n:,}")
    if knn.k < k:
        raise ValueError(f"the kNN graph has k={knn.k} neighbours per row; this estimator needs {k}")
    return knn


def _distances(scores: np.ndarray, metric: str) -> np.ndarray:
    cosine = np.clip(1.0 - scores.astype(np.float64), 0.0, 2.0)
    return np.sqrt(2.0 * cosine) if metric == "euclidean" else cosine


def distance_graph(knn: KNNGraph, k: int, n: int, *, metric: str = "cosine"):
    """CSR (n x n) of distances to each row's k nearest neighbours, the row itself first as an explicit
    zero: the layout of KNeighborsTransformer(mode="distance"), which sklearn's metric="precomputed"
    estimators read as "these are the neighbours, best first". `metric` "cosine" (1 - similarity) or
    "euclidean" (between the unit vectors, sqrt(2 - 2 similarity))."""
    from scipy.sparse import csr_matrix

    knn = _checked(knn, k, n)
    indices = np.hstack([np.arange(n)[:, None], knn.indices[:, :k]])
    distances = np.hstack([np.zeros((n, 1), np.float64), _distances(knn.scores[:, :k], metric)])
    return csr_matrix((distances.ravel(), indices.ravel(), np.arange(0, n * (k + 1) + 1, k + 1)),
                      shape=(n, n))


def _component_links(unit: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows (a, b) that join `count` components into one: a spanning tree over the
    components' mean directions (from their exact kNN graph), each tree edge A-B realised by the row of
    A nearest B's direction and the row of B nearest A's, a close stand-in for the nearest pair."""
    from scipy.sparse import csgraph, csr_matrix

    from skytells_lab.analysis.neighbors import knn_graph
    from skytells_lab.analysis.search import unit_rows

    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=count))])
    indicator = csr_matrix((np.ones(len(labels), np.float32), (labels, np.arange(len(labels)))),
                           shape=(count, len(labels)))
    centres = unit_rows(np.asarray(indicator @ unit, dtype=np.float32))
    k = min(10, count - 1)
    near = knn_graph(centres, k, progress=False)
    weights = np.clip(1.0 - near.scores.ravel().astype(np.float64), 0.0, 2.0) + 1e-9  # stored, even at 0
    tree = csgraph.minimum_spanning_tree(csr_matrix((weights, (np.repeat(near.rows, k), near.indices.ravel())),
                                                    shape=(count, count))).tocoo()
    pairs_a, pairs_b = list(tree.row), list(tree.col)
    parts, part_of = csgraph.connected_components(tree, directed=False)
    if parts > 1:  # the components' own kNN graph fell apart: chain its pieces
        first = np.unique(part_of, return_index=True)[1]
        pairs_a += list(first[:-1])
        pairs_b += list(first[1:])
    pairs_a, pairs_b = np.asarray(pairs_a, np.int64), np.asarray(pairs_b, np.int64)

    def nearest_member(component, towards):
        members = order[bounds[component]:bounds[component + 1]]
        return members[int(np.argmax(unit[members] @ centres[towards]))]

    a = np.array([nearest_member(x, y) for x, y in zip(pairs_a, pairs_b)], np.int64)
    b = np.array([nearest_member(y, x) for x, y in zip(pairs_a, pairs_b)], np.int64)
    return a, b


def symmetric_connected(graph, unit: np.ndarray, *, metric: str = "cosine"):
    """The graph made symmetric (union of both directions; cosine distance is symmetric) and joined
    into one component, as HDBSCAN requires of a sparse distance matrix and as agglomerative
    connectivity needs (sklearn would otherwise join components with all-pairs distances between
    them). A kNN graph knows nothing of the gaps between its components: they are bridged by
    _component_links at the bridges' true distances, so the components join where the gap is."""
    from scipy.sparse import csgraph, csr_matrix

    n = graph.shape[0]
    coo = graph.tocoo()
    rows, cols, data = [coo.row, coo.col], [coo.col, coo.row], [coo.data, coo.data]
    count, labels = csgraph.connected_components(graph, directed=False)
    if count > 1:
        a, b = _component_links(unit, labels, count)
        d = _distances(np.einsum("ij,ij->i", unit[a], unit[b]), metric)
        rows += [a, b]
        cols += [b, a]
        data += [d, d]
    rows, cols, data = (np.concatenate(part) for part in (rows, cols, data))
    # i->j and j->i can come from different BLAS blocks and differ in the last bit: give both the smaller,
    # so the matrix is exactly symmetric (HDBSCAN refuses it otherwise)
    pair = np.minimum(rows, cols).astype(np.int64) * n + np.maximum(rows, cols)
    order = np.lexsort((data, pair))
    starts = np.flatnonzero(np.r_[True, np.diff(pair[order]) != 0])
    data = np.repeat(data[order][starts], np.diff(np.r_[starts, len(order)]))[np.argsort(order, kind="stable")]
    # union of the edges, each once, built directly so the explicit zeros (each row itself) stay:
    # scipy's maximum() and + would drop them, and HDBSCAN counts the row itself in its core distance
    keys, first = np.unique(rows.astype(np.int64) * n + cols, return_index=True)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // n, minlength=n))])
    return csr_matrix((data[first], (keys % n).astype(np.int64), indptr), shape=(n, n))


def umap_knn(knn: KNNGraph, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances) for umap-learn's `precomputed_knn`: k columns, the row itself first at
    distance 0 (as umap's own nearest_neighbors returns them), then its k - 1 nearest by cosine."""
    knn = _checked(knn, k - 1, n)
    indices = np.hstack([np.arange(n)[:, None], knn.indices[:, : k - 1]]).astype(np.int32)
    distances = np.hstack([np.zeros((n, 1), np.float32), np.clip(1.0 - knn.scores[:, : k - 1], 0.0, 2.0)])
    return indices, distances.astype(np.float32)
