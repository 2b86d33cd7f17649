"""The kNN graph and near-duplicate pairs, computed in blocks that never hold the n x n scores."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from skytells_lab.analysis.blocks import blocks
from skytells_lab.analysis.search import numpy_topk, single_threaded_blas

# Query rows per step of the kNN graph: big enough for an efficient matrix product, small enough that
# each step's score block (rows x 16,384 columns) stays at 64 MiB.
KNN_QUERY_ROWS = 1024
# Rows of the matrix per block product of one step: 1024 x 4096 runs BLAS at full speed (1024 x 256 at a
# quarter of it); the 16 MiB of scores are filtered by one comparison each, small next to 384 FMAs.
KNN_SCAN_ROWS = 4096
# Side of the square tiles scanned for near-duplicates: 4096 x 4096 float32 = 64 MiB.
DUPLICATE_TILE = 4096


class KNNGraph:
    """The k nearest neighbours (cosine, excluding the item itself) of some or all rows of a space.

    Attributes: `rows` (m,) the source positions, `indices` (m, k) neighbour positions best first,
    `scores` (m, k) their cosine similarities.
    """

    def __init__(self, rows: np.ndarray, indices: np.ndarray, scores: np.ndarray, n: int, index=None):
        self.rows, self.indices, self.scores, self.n = rows, indices, scores, n
        self._index = index

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"KNNGraph({len(self):,} items, k={self.k}, mean score={float(self.scores.mean()):.3f})"

    def to_frame(self):
        """Deprecated: the name of :meth:`frame` before every result's table was ``.frame()``."""
        import warnings

        warnings.warn("KNNGraph.to_frame() is now KNNGraph.frame()", DeprecationWarning, stacklevel=2)
        return self.frame()

    def frame(self):
        """Tidy edges: source, target (the data's index labels), rank (1 = nearest), score."""
        import pandas as pd

        m, k = self.indices.shape
        labels = self._index if self._index is not None else pd.RangeIndex(self.n)
        return pd.DataFrame({
            "source": np.asarray(labels)[np.repeat(self.rows, k)],
            "target": np.asarray(labels)[self.indices.ravel()],
            "rank": np.tile(np.arange(1, k + 1), m),
            "score": self.scores.ravel(),
        })

    def to_sparse(self):
        """scipy CSR (n x n) adjacency with the similarities as weights, like sklearn's kneighbors_graph."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.scores.ravel(), (np.repeat(self.rows, self.k), self.indices.ravel())),
                          shape=(self.n, self.n))


def knn_graph(unit: np.ndarray, k: int = 10, *, rows=None, progress: bool | None = None,
              index=None, topk=None, threads: int | None = None) -> KNNGraph:
    """kNN of `rows` (default all) among all rows of `unit`, self excluded, exact cosine.

    The exact scan runs KNN_QUERY_ROWS queries per step, one step per thread (`threads`, default one
    per core, each with single-threaded BLAS): whole steps are shared out rather than the blocks of one
    step, so no step pays for merging the selections of two threads or a thread barrier per block.
    `topk(queries, k, exclude) -> (scores, indices)` replaces the exact float32 scan (EmbeddingSpace
    passes its quantized search), run one step at a time."""
    n = unit.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
    indices = np.empty((len(rows), k), np.int64)
    scores = np.empty((len(rows), k), np.float32)
    steps = [(start, min(start + KNN_QUERY_ROWS, len(rows))) for start in range(0, len(rows), KNN_QUERY_ROWS)]
    if threads is None:
        threads = 1 if topk is not None else min(2, os.cpu_count() or 1)
    threads = max(1, min(threads, len(steps)))

    def step(span: tuple[int, int]) -> None:
        start, stop = span
        chunk = rows[start:stop]
        queries = np.asarray(unit[chunk], dtype=np.float32)
        if topk is None:
            found = numpy_topk(unit, queries, k, exclude=chunk, progress=False, block_rows=KNN_SCAN_ROWS,
                               threads=1)
        else:
            found = topk(queries, k, chunk)
        scores[start:stop], indices[start:stop] = found

    done = blocks(len(steps), 1, progress=progress, desc="neighbors")
    if threads == 1:
        for position, _ in done:
            step(steps[position])
    else:
        with single_threaded_blas(), ThreadPoolExecutor(threads) as pool:
            for _ in zip(done, pool.map(step, steps), strict=True):
                pass
    return KNNGraph(rows, indices, scores, n, index=index)


def near_duplicates(unit: np.ndarray, threshold: float, *, progress: bool | None = None):
    """All pairs i < j with cosine >= threshold, as arrays (i, j, score) sorted by descending score.

    Scans the upper triangle in DUPLICATE_TILE-square tiles; memory is one tile plus the pairs found.
    """
    n = unit.shape[0]
    tile = DUPLICATE_TILE
    upper = np.triu(np.ones((tile, tile), dtype=bool), k=1)
    found_i, found_j, found_s = [], [], []
    for r0, r1 in blocks(n, tile, progress=progress, desc="duplicates"):
        left = unit[r0:r1]
        for c0 in range(r0, n, tile):
            c1 = min(c0 + tile, n)
            scores = left @ unit[c0:c1].T
            hits = scores >= threshold
            if c0 == r0:
                hits &= upper[: r1 - r0, : c1 - c0]
            i, j = np.nonzero(hits)
            if len(i):
                found_i.append(i + r0)
                found_j.append(j + c0)
                found_s.append(scores[i, j])
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    i, j, s = (np.concatenate(parts) for parts in (found_i, found_j, found_s))
    order = np.lexsort((j, i, -s))
    return i[order].astype(np.int64), j[order].astype(np.int64), s[order]
