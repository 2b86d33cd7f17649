"""Compressed codes for search: int8 scalar quantization and sign-bit binary codes, both rescored in float32.

A quantized search finds `candidates` rows per query with the codes, then scores exactly those rows with
the float32 vectors (which may be a memory-mapped file), so every returned score is the exact cosine and
only the choice of rows can differ from an exact search (measured as recall@k in
`benchmarks/bench_search.py`).

Why these kernels (measured on 2-core machines with AVX-512, `benchmarks/bench_search.py`):

- int8: `torch._int_mm` (oneDNN's VNNI kernel) multiplies an int8 block 3.4x faster than numpy's float32
  BLAS on the same block, and the codes are a quarter of the float32 bytes. faiss's SQ8 index and
  usearch's exact kernels measured slower than float32 BLAS here (issue 18), so they are not used. Without torch the
  codes are widened to float32 block by block and multiplied by BLAS (same results, float32's speed).
- binary: the numba kernel of `kernels.hamming_nearest` computes the Hamming distances and keeps each
  query's best rows in one pass (0.10x the float32 search for 100 queries at 1M x 384 with its bounds
  seeded from a sample, 0.17x without, where faiss `IndexBinaryFlat` took 0.59x and numkong's kernel plus
  a numpy filter 0.56x on the machine of that measurement); the codes are 1/32 of the
  float32 bytes. Without numba, faiss, then numpy's `bitwise_count`, give the same distances.

Scales: int8 uses one symmetric scale per dimension (the 99.99th percentile of |x| over a sample, so a
few outliers do not squeeze the rest into a handful of levels); the query is multiplied by the scales and
quantized with its own scale, which leaves the ranking of rows per query unchanged.
"""

from __future__ import annotations

import contextlib
import mmap
from itertools import pairwise

import numpy as np

from skytells_lab.analysis.blocks import blocks
from skytells_lab.analysis.search import RunningTopK

PRECISIONS = ("float32", "int8", "binary")
# Candidates rescored per query, as a multiple of k (at least MIN_CANDIDATES): enough for the recall goals
# on MiniLM sentence embeddings and on clustered vectors (int8 >= 0.99, binary >= 0.95 recall@10).
OVERSAMPLE = {"int8": 4, "binary": 100}
MIN_CANDIDATES = 100
# The binary default is calibrated at CALIBRATED_ROWS rows (1,000 rescored for k = 10: recall@10 0.989 on
# 1M clustered rows). Rows within any Hamming radius grow with n, so the rows rescored scale with
# sqrt(n / CALIBRATED_ROWS) both ways, never below BINARY_FLOOR * k. Measured (benchmarks/bench_search.py
# generator): 316 at 100k rows, recall 0.987; 547 at 300k, 0.99; 200 (the floor) on 37,410 MiniLM BBC
# sentences, 0.981, where a fixed 1,000 rescored 2.7 % of all rows. Beyond CALIBRATED_ROWS the Hamming
# shortlist they are picked from (by the asymmetric score) grows by sqrt(n / CALIBRATED_ROWS) again, with
# n itself: at 10M, 3,163 rows rescored of a 10,000-row shortlist, recall@10 0.992 (--mmap-n).
BINARY_FLOOR = 20
CALIBRATED_ROWS = 1_000_000
# Threads reading a memory-mapped file's scattered rows (see read_rows).
READ_THREADS = 8
# A space of one block of codes (kernels.HAMMING_BLOCK_ROWS rows) whose Hamming candidates are at least
# 1/COUNTED_SHARE of its rows is searched by counting (kernels.hamming_counted) instead of streaming.
COUNTED_SHARE = 256
# The streaming Hamming scan starts each query's bound at the distance that a sample of SEED_SAMPLE rows
# predicts holds SEED_MARGIN * count rows (+ SEED_SLACK rows of the sample), instead of keeping every row
# until `count` are kept: at 1M clustered rows x 100 queries, 1,000 rows each, no query fell short of it
# (those that do are scanned again) and the scan took 41 ms instead of 74.
SEED_SAMPLE, SEED_MARGIN, SEED_SLACK = 2048, 3, 4
# Rows of codes per block of a code scan.
CODE_BLOCK_ROWS = 65536


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def stream(matrix: np.ndarray, rows: int, *, progress: bool | None = None, desc: str = "scan"):
    """Yield (start, stop, block) over the rows of `matrix`. For a memory-mapped matrix each block's pages
    are released after use (madvise DONTNEED), so scanning a file larger than memory keeps the process's
    resident memory at one block instead of growing to the whole file."""
    for start, stop in blocks(len(matrix), rows, progress=progress, desc=desc):
        yield start, stop, matrix[start:stop]
        release(matrix, start, stop)


def release(matrix: np.ndarray, start: int = 0, stop: int | None = None) -> None:
    """Drop the resident pages of rows start .. stop of a memory-mapped matrix (a no-op in memory), so
    reading a file larger than memory does not grow the process's resident memory to the file."""
    mapped = _mapping(matrix)
    if mapped is None:
        return
    buffer, offset = mapped
    row_bytes = matrix.strides[0]
    begin = offset + start * row_bytes
    end = offset + (len(matrix) if stop is None else stop) * row_bytes
    begin -= begin % mmap.PAGESIZE
    with contextlib.suppress(OSError, ValueError):  # a platform without madvise keeps the pages
        buffer.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def _mapping(matrix: np.ndarray):
    """(mmap object, byte offset of `matrix` in it) when `matrix` views a memory-mapped file, else None."""
    node = matrix
    while isinstance(node, np.ndarray) and not isinstance(node.base, mmap.mmap):
        node = node.base
    if not isinstance(node, np.memmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    # numpy maps the file from the allocation boundary at or below the array's offset
    start = node.__array_interface__["data"][0] - node.offset % mmap.ALLOCATIONGRANULARITY
    return node.base, matrix.__array_interface__["data"][0] - start


def read_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """matrix[rows] for a memory-mapped matrix, read with pread instead of through the mapping.

    Touching scattered rows of a mapping makes the kernel map their neighbours too (fault-around and
    readahead), which grew the resident memory of a 10M-row search to most of the 15 GB file; reads
    into a fresh array cost only the rows themselves."""
    import os

    node = matrix
    while isinstance(node, np.ndarray) and not isinstance(node.base, mmap.mmap):
        node = node.base
    row_bytes = matrix.strides[0]
    if not isinstance(node, np.memmap) or not matrix.flags.c_contiguous or not node.filename:
        return np.asarray(matrix[rows], dtype=np.float32)
    first = int(node.offset) + matrix.__array_interface__["data"][0] - node.__array_interface__["data"][0]
    out = np.empty((len(rows), matrix.shape[1]), matrix.dtype)
    view = memoryview(out).cast("B")
    wanted = rows.tolist()

    def read(span: tuple[int, int]) -> None:
        for position in range(*span):
            os.preadv(fd, [view[position * row_bytes:(position + 1) * row_bytes]], first + wanted[position] * row_bytes)

    # reads from several threads keep the disk's queue full (preadv releases the GIL): rows not in the page
    # cache cost a disk round trip each, and one thread waits for every one in turn
    threads = max(1, min(READ_THREADS, len(wanted) // 1024))
    cuts = np.linspace(0, len(wanted), threads + 1).astype(int).tolist()
    fd = os.open(node.filename, os.O_RDONLY)
    try:
        if threads == 1:
            read((0, len(wanted)))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(read, pairwise(cuts)))
    finally:
        os.close(fd)
    return out.astype(np.float32, copy=False)


class Int8Codes:
    """Symmetric per-dimension int8 codes of a unit matrix: `codes` (n, d) int8, `scale` (d,) float32."""

    def __init__(self, codes: np.ndarray, scale: np.ndarray):
        self.codes, self.scale = codes, np.asarray(scale, dtype=np.float32)

    @classmethod
    def encode(cls, unit: np.ndarray, *, progress: bool | None = None, out: np.ndarray | None = None,
               sample: int = 100_000, seed: int = 0) -> Int8Codes:
        """Quantize `unit` block by block (into `out`, e.g. a memory-mapped file, when given)."""
        n, d = unit.shape
        picked = np.sort(np.random.default_rng(seed).choice(n, min(n, sample), replace=False))
        peak = np.quantile(np.abs(np.asarray(unit[picked], dtype=np.float32)), 0.9999, axis=0)
        scale = (np.where(peak > 0, peak, 1.0) / 127).astype(np.float32)
        codes = np.empty((n, d), np.int8) if out is None else out
        for start, stop, block in stream(unit, CODE_BLOCK_ROWS, progress=progress, desc="int8 codes"):
            codes[start:stop] = np.clip(np.rint(block / scale), -127, 127)
        return cls(codes, scale)

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.scale.nbytes

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        weighted = queries * self.scale  # fold the row scales into the query
        peak = np.abs(weighted).max(axis=1, keepdims=True)
        return np.clip(np.rint(weighted * (127 / np.where(peak > 0, peak, 1))), -127, 127).astype(np.int8)

    def candidates(self, queries: np.ndarray, count: int, *, exclude: np.ndarray | None = None,
                   progress: bool | None = None) -> np.ndarray:
        """(nq, count) rows with the best int8 scores per query."""
        n = len(self.codes)
        qcodes = self._queries(queries)
        top = RunningTopK(len(queries), count, n)
        product = _int8_product(qcodes)
        for start, stop, block in stream(self.codes, CODE_BLOCK_ROWS, progress=progress, desc="int8 search"):
            scores = product(block)
            _exclude(scores, exclude, start, stop)
            top.offer(scores, start)
        return top.result()[1]


def _int8_product(qcodes: np.ndarray):
    """A function block -> (rows, nq) float32 scores of int8 codes against the int8 queries."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the local extra
        torch = None
    if torch is not None and hasattr(torch, "_int_mm"):
        right = torch.from_numpy(np.ascontiguousarray(qcodes.T))

        def product(block):
            left = torch.from_numpy(np.ascontiguousarray(block) if block.flags.writeable else block.copy())
            return torch._int_mm(left, right).numpy().astype(np.float32)

        try:
            product(np.zeros((32, qcodes.shape[1]), np.int8))
            return product
        except RuntimeError:  # pragma: no cover - a torch build without the CPU int8 kernel
            pass
    right = qcodes.T.astype(np.float32)
    return lambda block: block.astype(np.float32) @ right


class BinaryCodes:
    """Sign-bit codes of a matrix: `codes` (n, ceil(d / 8)) uint8, bit set where the component is > 0."""

    def __init__(self, codes: np.ndarray):
        self.codes = codes
        self._index = None

    @classmethod
    def encode(cls, unit: np.ndarray, *, progress: bool | None = None,
               out: np.ndarray | None = None) -> BinaryCodes:
        n, d = unit.shape
        codes = np.empty((n, -(-d // 8)), np.uint8) if out is None else out
        for start, stop, block in stream(unit, CODE_BLOCK_ROWS, progress=progress, desc="binary codes"):
            codes[start:stop] = np.packbits(block > 0, axis=1)
        return cls(codes)

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes

    @staticmethod
    def pack(queries: np.ndarray) -> np.ndarray:
        return np.packbits(queries > 0, axis=1)

    def candidates(self, queries: np.ndarray, count: int, *, exclude: np.ndarray | None = None,
                   progress: bool | None = None, backend: str = "auto",
                   shortlist: int | None = None) -> np.ndarray:
        """(nq, count) candidate rows per query: the `shortlist` rows of smallest Hamming distance to the
        query's sign bits (ties to the lower row), and of those the `count` with the best asymmetric
        score (the float query against the rows' sign bits) when the shortlist is longer.

        shortlist defaults to `count` scaled by sqrt(n / CALIBRATED_ROWS) (see there), which is longer than
        `count` only beyond CALIBRATED_ROWS rows; `count` gives plain Hamming candidates. backend "auto" is
        the numba kernels (distances and selection in one pass on every core; by counting for a one-block
        space, see COUNTED_SHARE) when numba is installed, else faiss IndexBinaryFlat, else numpy; all give
        the same distances, and numba and numpy the same rows (faiss may break ties by other rows)."""
        n = len(self.codes) - (exclude is not None)
        shortlist = min(n, shortlist if shortlist is not None else _scaled(count, n))
        if shortlist <= count:
            return self._hamming(queries, count, exclude=exclude, progress=progress, backend=backend)
        found = self._hamming(queries, shortlist, exclude=exclude, progress=progress, backend=backend)
        kernels = _kernels()
        if kernels is None:  # pragma: no cover - numba is in the analysis extra
            return found[:, :count]
        wanted, inverse = np.unique(found, return_inverse=True)
        rows = np.asarray(self.codes[wanted])
        release(self.codes)
        scores = kernels.asymmetric_scores(queries, rows, inverse.reshape(found.shape))
        best = np.argpartition(-scores, count - 1, axis=1)[:, :count]
        return np.take_along_axis(found, best, axis=1)

    def _hamming(self, queries: np.ndarray, count: int, *, exclude: np.ndarray | None = None,
                 progress: bool | None = None, backend: str = "auto") -> np.ndarray:
        qcodes = self.pack(queries)
        if backend not in ("auto", "numba", "faiss", "numpy"):
            raise ValueError(f"backend must be 'auto', 'numba', 'faiss' or 'numpy', got {backend!r}")
        kernels = _kernels() if backend in ("auto", "numba") else None
        if kernels is not None:
            rows = len(self.codes)
            if rows <= kernels.HAMMING_BLOCK_ROWS and count * COUNTED_SHARE >= rows:
                return kernels.hamming_counted(np.asarray(self.codes), qcodes, count, exclude=exclude)
            spans = _Stream(self.codes, kernels.HAMMING_BLOCK_ROWS, progress=progress, desc="binary search")
            return kernels.hamming_nearest(spans, qcodes, count, exclude=exclude, seed=self._seed(qcodes, count))
        faiss = _faiss() if backend in ("auto", "faiss") else None
        if faiss is not None and self.codes.shape[1] % 8 == 0:
            if self._index is None:
                self._index = faiss.IndexBinaryFlat(self.codes.shape[1] * 8)
                # counting selection over the few possible distances instead of a heap per query:
                # 0.33 s instead of 0.58 s for 100 queries x 200 candidates over 300k codes here
                self._index.use_heap = False
                for _, _, block in stream(self.codes, 1 << 20, progress=progress, desc="binary index"):
                    self._index.add(np.ascontiguousarray(block))
            extra = 0 if exclude is None else 1
            _, found = self._index.search(qcodes, count + extra)
            if exclude is not None:
                found = _drop(found, exclude, count)
            return found
        return self._numpy_candidates(qcodes, count, exclude=exclude, progress=progress)

    def _seed(self, qcodes: np.ndarray, count: int) -> np.ndarray | None:
        """Each query's distance to its r-th nearest of SEED_SAMPLE evenly spaced rows, r the share of
        `count` such a sample holds times SEED_MARGIN (plus SEED_SLACK): a bound within which the scan
        expects about 3 * count rows (None for spaces too small for a sample to be a small share)."""
        rows = len(self.codes)
        if rows < 8 * SEED_SAMPLE:
            return None
        sample = np.asarray(self.codes[:: rows // SEED_SAMPLE][:SEED_SAMPLE])
        rank = int(np.ceil(SEED_MARGIN * count * len(sample) / rows)) + SEED_SLACK
        return _kernels().sample_bound(sample, qcodes, rank)

    def _numpy_candidates(self, qcodes, count, *, exclude=None, progress=None) -> np.ndarray:
        nbytes = self.codes.shape[1]
        pad = -nbytes % 8
        words = np.pad(qcodes, ((0, 0), (0, pad))).view(np.uint64)
        top = RunningTopK(len(qcodes), count, len(self.codes))
        for start, stop, block in stream(self.codes, 8192, progress=progress, desc="binary search"):
            bits = np.pad(block, ((0, 0), (0, pad))).view(np.uint64)
            distance = np.bitwise_count(bits[:, None, :] ^ words[None, :, :]).sum(axis=2, dtype=np.int32)
            scores = -distance.astype(np.float32)
            _exclude(scores, exclude, start, stop)
            top.offer(scores, start)
        return top.result()[1]


class _Stream:
    """`stream(...)` that starts over each time it is iterated (kernels.hamming_nearest may scan twice)."""

    def __init__(self, matrix: np.ndarray, rows: int, **options):
        self.matrix, self.rows, self.options = matrix, rows, options

    def __iter__(self):
        return stream(self.matrix, self.rows, **self.options)


def _kernels():
    try:
        from skytells_lab.analysis import kernels
    except ImportError:  # pragma: no cover - numba is in the analysis extra
        return None
    return kernels


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is in the faiss extra
        return None
    return faiss


def _exclude(scores: np.ndarray, exclude: np.ndarray | None, start: int, stop: int) -> None:
    if exclude is not None:
        hit = np.nonzero((exclude >= start) & (exclude < stop))[0]
        scores[exclude[hit] - start, hit] = -np.inf


def _drop(found: np.ndarray, exclude: np.ndarray, count: int) -> np.ndarray:
    """Remove each query's excluded row (or else its last candidate) from (nq, count + 1) candidates."""
    keep = found != exclude[:, None]
    keep[keep.sum(axis=1) > count, -1] = False
    return found[keep].reshape(len(found), count)


def candidate_count(precision: str, k: int, n: int, candidates: int | None) -> int:
    """Rows to rescore per query: `candidates`, or the precision's default multiple of k (for binary codes
    scaled with n, see CALIBRATED_ROWS); at most n."""
    if candidates is not None:
        count = candidates
    else:
        count = max(OVERSAMPLE[precision] * k, MIN_CANDIDATES)
        if precision == "binary":
            count = max(_scaled(count, n), BINARY_FLOOR * k, MIN_CANDIDATES)
    if count < k:
        raise ValueError(f"candidates must be at least k = {k}, got {count}")
    return min(count, n)


def _scaled(count: int, n: int) -> int:
    """`count` times sqrt(n / CALIBRATED_ROWS), rounded up."""
    return int(np.ceil(count * np.sqrt(n / CALIBRATED_ROWS)))


def rescore(unit: np.ndarray, queries: np.ndarray, candidates: np.ndarray,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float32 scores of each query's candidate rows; the k best, ordered like numpy_topk."""
    nq, count = candidates.shape
    scores = candidate_scores(unit, queries, candidates)
    top = RunningTopK(nq, k, len(unit))
    if count > k:  # only scores at or above each query's k-th best can be returned (ties kept for the order)
        kth = np.partition(scores, count - k, axis=1)[:, count - k]
        query, column = np.nonzero(scores >= kth[:, None])
        top.add(query, candidates[query, column], scores[query, column])
    else:
        top.add(np.repeat(np.arange(nq), count), candidates.ravel(), scores.ravel())
    return top.result()


def candidate_scores(unit: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(nq, count) exact float32 inner products of each query with its candidate rows of `unit`.

    Rows are gathered in sorted order (sequential reads when `unit` is a memory-mapped file)."""
    nq, count = candidates.shape
    if _mapping(unit) is not None:  # from a file: read each wanted row once, in file order
        wanted, inverse = np.unique(candidates, return_inverse=True)
        gathered = read_rows(unit, wanted)[inverse.reshape(nq, count)]
        scores = np.matmul(gathered, queries[:, :, None].astype(np.float32))[..., 0]
    elif (kernels := _kernels()) is not None and unit.dtype == np.float32 and unit.flags.c_contiguous:
        scores = kernels.candidate_dots(unit, queries, candidates)
    else:
        # a few queries at a time, so each gathered block (about 1 MiB) is scored while it is in cache:
        # gathering all 100 x 400 rows first wrote and re-read 61 MB, a third of a binary search's time
        scores = np.empty((nq, count), np.float32)
        step = max(1, 2**20 // max(1, count * unit.shape[1] * 4))
        queries = queries.astype(np.float32, copy=False)
        for start in range(0, nq, step):
            stop = min(start + step, nq)
            gathered = np.take(unit, candidates[start:stop].ravel(), axis=0).reshape(stop - start, count, -1)
            # a batched matrix-vector product: BLAS, about 10x faster here than the same einsum
            scores[start:stop] = np.matmul(gathered, queries[start:stop, :, None])[..., 0]
    return scores
