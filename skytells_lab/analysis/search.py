"""Exact cosine top-k over a unit-normalized matrix: blocked products and argpartition, or faiss.

The numpy path is the default. Measured on 1,000,000 x 384 float32 (2 cores, faiss-cpu 1.15,
`benchmarks/bench_search.py`) it takes about half of faiss `IndexFlatIP`'s time for one query and a
fifth for a batch of 100, and it needs no second copy of the matrix, where `IndexFlatIP.add` copies
every vector (which alone breaks the "peak memory under 2x the matrix" goal). faiss stays available as
`backend="faiss"`, with the same results: the same indices, scores equal to float32 rounding, ties
broken by the lower row in both paths.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from skytells_lab.analysis.blocks import blocks, rows_per_block

# Score bytes per block of the scan: small enough to stay in one core's L2 cache (2 MiB here).
SCAN_BLOCK_BYTES = 2**20
# Row groups per k whose maxima bound a first block's k-th best score (RunningTopK.offer).
GROUPS_PER_K = 4

BACKENDS = ("auto", "numpy", "faiss")


def as_query_matrix(queries, dim: int) -> np.ndarray:
    """One vector or a batch of them as a C-contiguous float32 (nq, dim) matrix."""
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"query vectors must have {dim} dimensions, got shape {np.shape(queries)}")
    return matrix


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """L2 norm of each row, without the full-size temporary that np.linalg.norm(axis=1) allocates."""
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float32))


def unit_rows(matrix: np.ndarray, *, out: np.ndarray | None = None, norms: np.ndarray | None = None,
              progress: bool | None = None) -> np.ndarray:
    """Row-normalized float32 matrix (zero rows stay zero), written block by block into `out`.

    `out=matrix` normalizes in place; the default allocates one new matrix and no other full-size temporary.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    out = np.empty(matrix.shape, np.float32) if out is None else out
    size = rows_per_block(matrix.shape[1] if matrix.ndim == 2 else 1)
    for start, stop in blocks(len(matrix), size, progress=progress, desc="normalize"):
        part = norms[start:stop] if norms is not None else row_norms(matrix[start:stop])
        np.divide(matrix[start:stop], np.where(part == 0, 1, part)[:, None], out=out[start:stop])
    return out


def is_unit(matrix: np.ndarray, *, atol: float = 1e-3) -> bool:
    """Whether every row has length 1 (embedding APIs usually return unit vectors)."""
    return bool(np.all(np.abs(row_norms(matrix) - 1) <= atol))


class RunningTopK:
    """The exact top-k of each of nq queries over score blocks offered one at a time.

    Each block is (rows x nq) scores for consecutive rows from `start`. A block is filtered by one
    comparison against each query's current k-th best score (a lower bound of the final one), so only
    the few rows that could still enter a top-k are kept; argpartition over every score, which cost as
    much as the matrix product itself for a batch of 100 queries, is never run. The kept candidates are
    merged into the (nq, k) best-so-far, ordered by descending score then ascending row (numpy's stable
    argsort of -score), whenever they outnumber 4 * nq * k, which also tightens the thresholds.
    """

    def __init__(self, nq: int, k: int, n: int):
        self.nq, self.k = nq, k
        self.scores = np.full((nq, k), -np.inf, np.float32)
        self.indices = np.full((nq, k), n, np.int64)  # a sentinel row after every real one
        self.threshold = np.full(nq, -np.inf, np.float32)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending = 0
        self._cap = max(4 * nq * k, 4096)
        self._unfilled = True

    def offer(self, scores: np.ndarray, start: int) -> None:
        """Take a (rows, nq) block of scores for rows start .. start + rows - 1."""
        rows, nq = scores.shape
        threshold = self.threshold
        bounded = self._unfilled and rows >= self.k
        if bounded:
            # k distinct rows each scoring at least m make m a lower bound of the k-th best: the k-th largest
            # of the maxima of disjoint row groups. One max pass over the block and a partition of 4k maxima
            # per query, where partitioning the block's rows cost as much as its product (1024 x 1024 scores,
            # kNN graph steps). With k groups (their smallest maximum) a quarter of a 12k-row block passed
            # for k = 100; with 4k groups, 1.7 % (MiniLM BBC sentences, int8 candidates).
            groups = min(rows, GROUPS_PER_K * self.k)
            size = rows // groups
            maxima = scores[: size * groups].reshape(groups, size, nq).max(axis=1)
            kth = np.partition(maxima, groups - self.k, axis=0)[groups - self.k]
            threshold = np.maximum(threshold, kth)
        keep = scores >= threshold
        if not np.count_nonzero(keep):
            return
        flat = np.flatnonzero(keep)
        self._parts.append((flat % nq, flat // nq + start, scores.reshape(-1)[flat]))
        self._pending += len(flat)
        if self._pending > self._cap or bounded:  # merging at once gives the next blocks exact thresholds
            self.merge()

    def add(self, queries: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> None:
        """Take scattered candidates: query positions, their rows and scores (flat, equal lengths).
        Repeated (query, row) pairs must not be given."""
        self._parts.append((queries, np.asarray(rows, dtype=np.int64), np.asarray(scores, np.float32)))
        self._pending += len(queries)
        if self._pending > self._cap:
            self.merge()

    def merge(self) -> None:
        if not self._pending:
            return
        k, nq = self.k, self.nq
        q = np.concatenate([np.repeat(np.arange(nq), k), *(p[0] for p in self._parts)])
        i = np.concatenate([self.indices.ravel(), *(p[1] for p in self._parts)])
        s = np.concatenate([self.scores.ravel(), *(p[2] for p in self._parts)])
        order = np.lexsort((i, -s, q))
        # every query has at least its k current entries, so the first k of each group exist
        starts = np.concatenate([[0], np.cumsum(np.bincount(q, minlength=nq))[:-1]])
        take = order[(starts[:, None] + np.arange(k)).ravel()]
        self.scores, self.indices = s[take].reshape(nq, k), i[take].reshape(nq, k)
        self.threshold = self.scores[:, -1].copy()
        self._unfilled = bool(np.isneginf(self.threshold).any())
        self._parts, self._pending = [], 0

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), both (nq, k), best first."""
        self.merge()
        return self.scores, self.indices


def _ordered(scores: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by descending score, ties by ascending index (numpy's stable argsort of -score)."""
    order = np.lexsort((index, -scores), axis=1)
    index = np.take_along_axis(index, order, axis=1).astype(np.int64)
    return np.take_along_axis(scores, order, axis=1), index


def scan_rows(nq: int, k: int) -> int:
    """Rows per block of the scan: the (rows x nq) scores stay in the core's cache (about 1 MiB) so the
    comparison that filters them runs while they are hot, but at least 2048 rows, below which BLAS
    slows down (measured: a 1024 x 256 block product runs at a quarter of the speed of 1024 x 4096)."""
    return rows_per_block(nq, budget=SCAN_BLOCK_BYTES, minimum=max(2048, 4 * k))


def numpy_topk(unit: np.ndarray, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None,
               progress: bool | None = None, block_rows: int | None = None,
               threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products of each query against the rows of `unit`.

    One pass over the matrix in cache-sized row blocks (`scan_rows`), each block's scores filtered by
    RunningTopK (`block_rows` overrides the block size). With `threads` > 1 (default: one per core for
    a batch, none for one query) each thread scans every threads-th block with single-threaded BLAS and
    its own selection, and the selections are merged: no BLAS thread barrier per block, which is what
    slows a loop of small products on a loaded machine, and the filtering runs on every core.
    `exclude[q]` is a row that query q must not match (itself, for a kNN graph). Returns (scores,
    indices), both (nq, k), best first; identical to a stable argsort of the full scores.
    """
    n = unit.shape[0]
    nq = queries.shape[0]
    size = block_rows or scan_rows(nq, k)
    spans = [(start, min(start + size, n)) for start in range(0, n, size)]
    if threads is None:
        threads = 1 if nq == 1 else min(2, os.cpu_count() or 1)
    threads = max(1, min(threads, len(spans)))
    single = queries[0] if nq == 1 else None  # one query: matrix-vector product, the memory-bound floor
    qt = queries.T
    bar = _bar(len(spans), progress)

    def scan(part: int) -> RunningTopK:
        top = RunningTopK(nq, k, n)
        for start, stop in spans[part::threads]:
            scores = (unit[start:stop] @ single)[:, None] if nq == 1 else unit[start:stop] @ qt
            if exclude is not None:
                hit = np.nonzero((exclude >= start) & (exclude < stop))[0]
                scores[exclude[hit] - start, hit] = -np.inf
            top.offer(scores, start)
            if bar is not None:
                bar.update()
        return top

    try:
        if threads == 1:
            return scan(0).result()
        limits = single_threaded_blas()
        with limits, ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(scan, range(threads)))
        top = parts[0]
        for other in parts[1:]:
            other.merge()
            top.add(np.repeat(np.arange(nq), k), other.indices.ravel(), other.scores.ravel())
        return top.result()
    finally:
        if bar is not None:
            bar.close()


def _bar(total: int, progress: bool | None):
    if progress is False or total <= 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="search", unit="block", delay=0 if progress else 1.0, leave=False)


_CONTROLLER = []


def single_threaded_blas():
    """A context in which BLAS uses one thread (threadpoolctl, from scikit-learn); a no-op without it.

    The controller is made once: finding the loaded libraries took 18 ms per call here, more than the
    selection of a whole 100-query search."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def faiss_index(unit: np.ndarray):
    """A faiss IndexFlatIP holding a copy of `unit` (faiss keeps its own storage)."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backend='faiss' needs faiss: pip install 'skytells-lab[faiss]'") from exc
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    return index


def faiss_topk(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k from a faiss flat index, ordered exactly like `numpy_topk`."""
    scores, found = index.search(queries, k)
    return _ordered(scores.astype(np.float32, copy=False), found)


def resolve_backend(backend: str) -> str:
    """'auto' is numpy: faster than IndexFlatIP here and no copy of the matrix (see the module doc)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return "numpy" if backend == "auto" else backend
