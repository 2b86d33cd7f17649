"""Approximate kNN graphs for large spaces: an HNSW index (faiss IndexHNSWFlat, inner product).

faiss's HNSW is already a dependency (the faiss extra), builds and searches on every core through
OpenMP, and keeps the float32 vectors, so the scores it returns are exact cosines of unit vectors; only
which neighbours are found can differ from the exact graph (recall@10 against `method="exact"` is
measured in `benchmarks/bench_search.py`). M=16 links per node, efConstruction=40 and
efSearch=max(64, 2k) reached recall@10 0.986 on MiniLM embeddings of 12,000 BBC sentences and 0.9999 on
20,000 clustered vectors, building in half the time of M=32 / efConstruction=80 (recall 0.998 / 1.0).
"""

from __future__ import annotations

import numpy as np

from skytells_lab.analysis.blocks import blocks
from skytells_lab.analysis.neighbors import KNNGraph

HNSW_M = 16
EF_CONSTRUCTION = 40
# Vectors added (and queries searched) per step: small enough for a smooth progress bar, large enough
# that faiss's OpenMP threads stay busy.
ADD_ROWS = 16384


def hnsw_index(unit: np.ndarray, *, m: int = HNSW_M, ef_construction: int = EF_CONSTRUCTION,
               progress: bool | None = None):
    """A faiss IndexHNSWFlat over the unit rows (inner product = cosine), built in steps with a bar."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("method='approximate' needs faiss: pip install 'skytells-lab[faiss]'") from exc
    index = faiss.IndexHNSWFlat(unit.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    for start, stop in blocks(len(unit), ADD_ROWS, progress=progress, desc="HNSW graph"):
        index.add(np.ascontiguousarray(unit[start:stop], dtype=np.float32))
    return index


def hnsw_knn(index, unit: np.ndarray, k: int, *, rows=None, ef_search: int | None = None,
             progress: bool | None = None, labels=None) -> KNNGraph:
    """kNN of `rows` (default all) from the HNSW index, self excluded; scores are exact cosines."""
    n = len(unit)
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
    index.hnsw.efSearch = max(ef_search or 64, 2 * (k + 1))
    indices = np.empty((len(rows), k), np.int64)
    scores = np.empty((len(rows), k), np.float32)
    for start, stop in blocks(len(rows), ADD_ROWS, progress=progress, desc="HNSW neighbors"):
        chunk = rows[start:stop]
        found_s, found = index.search(np.ascontiguousarray(unit[chunk], dtype=np.float32), k + 1)
        # drop each row itself (or, when a duplicate outranked it, the last hit)
        keep = found != chunk[:, None]
        keep[keep.sum(axis=1) > k, -1] = False
        ok = keep.sum(axis=1) == k
        if not ok.all():  # fewer than k valid hits (-1 padding from a tiny or sparse graph)
            raise RuntimeError("the HNSW search returned too few neighbours: raise ef_search")
        indices[start:stop] = found[keep].reshape(-1, k)
        scores[start:stop] = found_s[keep].reshape(-1, k)
    return KNNGraph(rows, indices, scores, n, index=labels)


def approximate_knn(space, k: int = 10, *, rows=None, ef_search: int | None = None,
                    progress: bool | None = None) -> KNNGraph:
    """EmbeddingSpace.neighbors(method="approximate"): the space's HNSW index (built once) searched."""
    if getattr(space, "_hnsw", None) is None:
        space._hnsw = hnsw_index(space.normalized, progress=progress)
    return hnsw_knn(space._hnsw, space.normalized, k, rows=rows, ef_search=ef_search, progress=progress,
                    labels=space.data.index)
