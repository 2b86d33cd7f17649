"""Compiled loops (numba) for the steps of a quantized search that numpy cannot do in one pass.

- `hamming_nearest`: each query's `count` rows of smallest Hamming distance between sign-bit codes. The
  distances are computed and filtered in the same loop, so the (rows x queries) distance matrix is never
  written: numkong's AVX-512 kernel wrote it and numpy filtered it afterwards, and the filtering cost as
  much as the kernel (1M x 100 queries: 79 ms kernel + 80 ms filter there, 60 ms for both here on two cores).
- `hamming_counted`: the same rows for a space held in memory whose `count` best rows are a large share
  of it, by counting: every distance written once with a histogram per query, then one collecting pass.
- `asymmetric_scores`: the float query against each candidate's sign bits (q . sign(x), by byte lookup
  tables), to rank a long Hamming shortlist down to the rows worth reading in float32.
- `candidate_dots`: inner products of each query with its own scattered candidate rows, read in place
  instead of gathered into a copy first (np.take + a batched matmul: 32 ms for 100 x 1,000 rows of 384;
  this: 12 ms on two threads).

This module imports numba, so it is imported on first use (quantize imports it inside functions) and
`import skytells_lab` never pays for it; the kernels compile on first call (cached on disk where numba can).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from itertools import pairwise

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Rows of codes per block of the Hamming scan (3 MiB of 384-bit codes): the progress bar moves and a
# memory-mapped file is read block by block; each block is split between the threads, which exchange
# bounds after it (16,384 to 262,144 rows measured within noise at 1M x 100).
HAMMING_BLOCK_ROWS = 65536
# The distances `hamming_counted` holds at once per thread (uint16, rows x queries).
COUNTED_BYTES = 8 * 2**20


def _threads(work: int) -> int:
    return max(1, min(os.cpu_count() or 1, work))


@intrinsic
def popcount(typingctx, x):
    """LLVM's ctpop of a uint64 as int64: vpopcntq lanes where the CPU has AVX-512 VPOPCNTDQ."""
    def codegen(context, builder, signature, args):
        return builder.call(builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)]), args)

    return types.int64(types.uint64), codegen


@njit(nogil=True, boundscheck=False, cache=True)
def keep(row, j, distance, count, bound, below, histogram, rows, distances, fill):
    """Add `row` at `distance` to query j's kept rows and tighten the query's bound.

    bound[j] is the smallest distance b with `count` kept rows at distance <= b (bits + 1 while fewer are
    kept): a later row loses ties to every kept row, so it can enter the top `count` only below it.
    below[j] counts the kept rows under the bound; histogram[j] the kept rows at each distance."""
    f = fill[j]
    if f == rows.shape[1]:  # full: keep the rows still needed (below the bound, then the first ties at it)
        b = bound[j]
        need = count - below[j]
        kept = 0
        for e in range(f):
            d = distances[j, e]
            if d < b or (d == b and need > 0):
                if d == b:
                    need -= 1
                rows[j, kept] = rows[j, e]
                distances[j, kept] = d
                kept += 1
        for v in range(b + 1, histogram.shape[1]):
            histogram[j, v] = 0
        histogram[j, b] = count - below[j] - need
        f = kept
    rows[j, f] = row
    distances[j, f] = distance
    fill[j] = f + 1
    histogram[j, distance] += 1
    below[j] += 1
    while below[j] >= count:
        bound[j] -= 1
        below[j] -= histogram[j, bound[j]]


def _words(codes: np.ndarray) -> np.ndarray:
    """(n, words) uint64 view of (n, nbytes) uint8 codes, zero-padded to whole words (copied only then, or
    when not contiguous)."""
    pad = -codes.shape[1] % 8
    return np.ascontiguousarray(np.pad(codes, ((0, 0), (0, pad))) if pad else codes).view(np.uint64)


def _query_words(qcodes: np.ndarray) -> np.ndarray:
    """(words, nq): the queries' code words, a query per column, as the kernels read them."""
    return np.ascontiguousarray(_words(qcodes).T)


def _skips(exclude: np.ndarray | None, nq: int) -> np.ndarray:
    """Each query's excluded row, -1 for none."""
    return np.full(nq, -1, np.int64) if exclude is None else np.asarray(exclude, np.int64)


def _unrolled(words: int, source: str, name: str, *, query_columns: str = ""):
    """The function `name` defined by `source`, compiled by numba, where LOADS stands for the loads of row
    i's `words` code words (c0, c1, ...), QUERIES for the query words (q0, q1, ...: qt's rows, columns
    `query_columns`) and TOTAL for row i's Hamming distance to query j: unrolled, because a loop over the
    words inside the loop over queries measured 1.5x slower (the compiler then keeps the partial sums in
    memory)."""
    source = (source.replace("LOADS", "; ".join(f"c{w} = codes[i, {w}]" for w in range(words)))
              .replace("QUERIES", "; ".join(f"q{w} = qt[{w}{query_columns}]" for w in range(words)))
              .replace("TOTAL", " + ".join(f"popcount(c{w} ^ q{w}[j])" for w in range(words))))
    namespace = {"np": np, "popcount": popcount, "keep": keep}
    # the source is built from the integer `words` and this module's own text alone
    exec(compile(source, f"<{name}, {words} words>", "exec"), namespace)  # noqa: S102
    return njit(nogil=True, boundscheck=False, fastmath=True)(namespace[name])


@cache
def _hamming_scan(words: int):
    """The scan kernel for codes of `words` uint64 words (see _unrolled). The loop over queries is
    vectorized (vpopcntq); rows under some query's bound are rare once the bounds have tightened, and only
    those are looked at query by query."""
    return _unrolled(words, """
def scan(codes, offset, qt, exclude, count, bound, below, histogram, rows, distances, fill):
    nq = qt.shape[1]
    QUERIES
    d = np.empty(nq, np.int64)
    for i in range(codes.shape[0]):
        LOADS
        hit = False
        for j in range(nq):
            dj = TOTAL
            d[j] = dj
            hit |= dj < bound[j]
        if hit:
            row = offset + i
            for j in range(nq):
                if d[j] < bound[j] and row != exclude[j]:
                    keep(row, j, d[j], count, bound, below, histogram, rows, distances, fill)
""", "scan")


class _Kept:
    """One thread's kept rows per query: what the scan kernel reads and updates."""

    def __init__(self, nq: int, count: int, bits: int, seed: np.ndarray | None = None):
        self.bound = np.full(nq, bits + 1, np.int64)  # above every distance: keep everything at first
        if seed is not None:  # or only the rows within each query's seed
            self.bound = np.minimum(self.bound, np.asarray(seed, np.int64) + 1)
        self.below = np.zeros(nq, np.int64)
        self.histogram = np.zeros((nq, bits + 2), np.int64)
        self.rows = np.empty((nq, 2 * count), np.int64)
        self.distances = np.empty((nq, 2 * count), np.int64)
        self.fill = np.zeros(nq, np.int64)

    def tighten(self, others: list[_Kept]) -> None:
        """Take the other threads' bounds: a row farther than another thread's bound (`count` rows at
        most that far) is out of the top `count` whatever its position, so bound + 1 holds here too."""
        bound = np.minimum(self.bound, min(other.bound for other in others) + 1)
        changed = np.flatnonzero(bound < self.bound)
        if len(changed):
            self.bound[changed] = bound[changed]
            under = np.cumsum(self.histogram[changed], axis=1)
            self.below[changed] = np.where(bound[changed] > 0, under[np.arange(len(changed)), bound[changed] - 1], 0)


def hamming_nearest(blocks, qcodes: np.ndarray, count: int, *, exclude: np.ndarray | None = None,
                    threads: int | None = None, seed: np.ndarray | None = None) -> np.ndarray:
    """(nq, count) rows of smallest Hamming distance to each query, ties to the lower row (numpy's order).

    `blocks` yields (start, stop, codes block) over the (n, nbytes) uint8 codes in row order, as
    `quantize.stream` does; `qcodes` is (nq, nbytes) uint8; `exclude` one row per query never returned.
    Each block is split between `threads` (default every core), each keeping its own rows; after each
    block every thread takes the others' bounds, and the rows are merged at the end.

    `seed` (nq,): a distance within which each query is expected to find at least `count` rows (from
    `sample_bound`); the scan then keeps no row beyond it from the start, instead of keeping every row
    until `count` are kept (at 1M x 100 queries, 1,000 rows each: 41 ms instead of 74). The queries for
    which fewer than `count` rows lie within it are scanned again without it, so `blocks` is iterated a
    second time: give an iterable that can be (a list, or an object whose __iter__ starts over)."""
    nq = len(qcodes)
    qt, skip = _query_words(qcodes), _skips(exclude, nq)
    words = len(qt)
    scan = _hamming_scan(words)
    threads = _threads(threads or os.cpu_count() or 1)
    kept = [_Kept(nq, count, words * 64, seed) for _ in range(threads)]

    def run(part: int, block: np.ndarray, offset: int) -> None:
        state = kept[part]
        scan(block, offset, qt, skip, count, state.bound, state.below, state.histogram, state.rows,
             state.distances, state.fill)

    with ThreadPoolExecutor(threads) as pool:
        for start, stop, block in blocks:
            block = _words(block)
            cuts = np.linspace(0, stop - start, threads + 1).astype(int).tolist()
            list(pool.map(run, range(threads), [block[a:b] for a, b in pairwise(cuts)],
                          [start + a for a in cuts[:-1]]))
            if threads > 1:
                for state in kept:
                    state.tighten([other for other in kept if other is not state])
    found, short = _merge(kept, count)
    if short.any():
        if seed is None:
            available = int(sum(state.fill for state in kept).min())
            raise ValueError(f"count = {count} is more than the {available} rows that can be returned")
        found[short] = hamming_nearest(blocks, qcodes[short], count, threads=threads,
                                       exclude=None if exclude is None else skip[short])
    return found


def _merge(kept: list[_Kept], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `count` best rows over every thread's kept rows, by distance then row: one int64 key
    per row (the distance above the row's 40 bits), partitioned and then sorted per query. Also which
    queries kept fewer than `count` rows (their rows are then meaningless)."""
    keys = np.concatenate([(state.distances << 40) | state.rows for state in kept], axis=1)
    filled = np.concatenate([np.arange(state.rows.shape[1]) < state.fill[:, None] for state in kept], axis=1)
    keys[~filled] = np.iinfo(np.int64).max
    short = filled.sum(axis=1) < count
    if keys.shape[1] > count:
        keys = np.partition(keys, count - 1, axis=1)[:, :count]
    return np.sort(keys, axis=1) & ((1 << 40) - 1), short


@cache
def _sample_histogram(words: int):
    """The kernel of `sample_bound` for codes of `words` uint64 words (see _unrolled)."""
    return _unrolled(words, """
def histogram_of(codes, qt, histogram):
    QUERIES
    for i in range(codes.shape[0]):
        LOADS
        for j in range(qt.shape[1]):
            histogram[j, TOTAL] += 1
""", "histogram_of")


def sample_bound(sample: np.ndarray, qcodes: np.ndarray, rank: int) -> np.ndarray:
    """(nq,) the Hamming distance of each query's `rank`-th nearest row of `sample` (uint8 codes), a seed
    for `hamming_nearest`."""
    qt = _query_words(qcodes)
    words = len(qt)
    histogram = np.zeros((len(qcodes), words * 64 + 1), np.int64)
    _sample_histogram(words)(_words(sample), qt, histogram)
    return np.argmax(np.cumsum(histogram, axis=1) >= min(rank, len(sample)), axis=1).astype(np.int64)


@cache
def _counting_select(words: int):
    """The kernel of `hamming_counted` for codes of `words` uint64 words (see _unrolled)."""
    return _unrolled(words, """
def select(codes, qt, exclude, count, out, start, stop, dist, histogram):
    rows = codes.shape[0]
    m = stop - start
    QUERIES
    for i in range(rows):
        LOADS
        for j in range(m):
            dist[i, j] = TOTAL
        for j in range(m):
            histogram[j, dist[i, j]] += 1
    far = histogram.shape[1] - 1
    bound = np.empty(m, np.int64)
    need = np.empty(m, np.int64)
    for j in range(m):
        x = exclude[start + j]
        if x >= 0:
            histogram[j, dist[x, j]] -= 1
            dist[x, j] = far
        below = 0
        b = 0
        while below + histogram[j, b] < count:
            below += histogram[j, b]
            b += 1
        bound[j] = b
        need[j] = count - below
    fill = np.zeros(m, np.int64)
    for i in range(rows):
        for j in range(m):
            d = dist[i, j]
            if d < bound[j] or (d == bound[j] and need[j] > 0):
                if d == bound[j]:
                    need[j] -= 1
                out[start + j, fill[j]] = (np.int64(d) << 40) | i
                fill[j] += 1
""", "select", query_columns=", start:stop")


def hamming_counted(codes: np.ndarray, qcodes: np.ndarray, count: int, *, exclude: np.ndarray | None = None,
                    threads: int | None = None) -> np.ndarray:
    """What `hamming_nearest` returns, for codes held in memory whose `count` best rows are a large share:
    every distance is written once (rows x queries, uint16) with a histogram per query, the histogram
    gives each query's bound, and one more pass collects the rows under it. No row is kept and later
    dropped, which is what the streaming scan spends its time on when `count` is a large share of the rows
    (12k x 100 queries, 1,000 rows each: 2.3 ms counted, 10.9 ms streaming; see quantize.COUNTED_SHARE).
    Queries are split between `threads` (default every core)."""
    nq, rows = len(qcodes), len(codes)
    available = rows - (exclude is not None)
    if count > available:
        raise ValueError(f"count = {count} is more than the {available} rows that can be returned")
    block, qt, skip = _words(codes), _query_words(qcodes), _skips(exclude, nq)
    words = len(qt)
    keys = np.empty((nq, count), np.int64)
    select = _counting_select(words)
    threads = _threads(min(threads or os.cpu_count() or 1, nq))
    cuts = np.linspace(0, nq, threads + 1).astype(int).tolist()
    step = max(1, COUNTED_BYTES // (2 * rows))  # queries whose distances one pass holds

    def run(part: int) -> None:
        for start in range(cuts[part], cuts[part + 1], step):
            stop = min(start + step, cuts[part + 1])
            select(block, qt, skip, count, keys, start, stop, np.empty((rows, stop - start), np.uint16),
                   np.zeros((stop - start, words * 64 + 2), np.int64))

    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(threads)))
    return np.sort(keys, axis=1) & ((1 << 40) - 1)


@njit(nogil=True, boundscheck=False, fastmath=True, cache=True)
def _dots(unit, queries, candidates, out, start, stop):
    width = unit.shape[1]
    for j in range(start, stop):
        for c in range(candidates.shape[1]):
            row = candidates[j, c]
            total = np.float32(0)
            for t in range(width):
                total += unit[row, t] * queries[j, t]
            out[j, c] = total


@njit(nogil=True, boundscheck=False, fastmath=True, cache=True)
def _table_scores(tables, codes, positions, out, start, stop):
    nbytes = codes.shape[1]
    for j in range(start, stop):
        for c in range(positions.shape[1]):
            row = positions[j, c]
            total = np.float32(0)
            for p in range(nbytes):
                total += tables[j - start, p, codes[row, p]]
            out[j, c] = total


# Queries per batch of lookup tables: 256 queries x 48 bytes x 256 values of float32 is 12 MiB.
TABLE_QUERIES = 256


def asymmetric_scores(queries: np.ndarray, codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(nq, count) q . s for each query and the sign vector s (+1 where the bit is set, else -1) of the
    code rows `codes[positions[j]]`; `codes` is (m, nbytes) uint8 packed as np.packbits (first dimension
    in the high bit), `queries` (nq, d) float32 with d <= 8 * nbytes."""
    nq, count = positions.shape
    nbytes = codes.shape[1]
    signs = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32) * 2 - 1
    padded = np.zeros((nq, nbytes * 8), np.float32)
    padded[:, :queries.shape[1]] = queries
    out = np.empty((nq, count), np.float32)
    codes = np.ascontiguousarray(codes)
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    for start in range(0, nq, TABLE_QUERIES):
        stop = min(start + TABLE_QUERIES, nq)
        # tables[j, p, v]: the sum of query j's dimensions 8p .. 8p + 7, each signed by its bit of v
        tables = np.ascontiguousarray(padded[start:stop].reshape(stop - start, nbytes, 8) @ signs.T)
        _table_scores(tables, codes, positions, out, start, stop)
    return out


def candidate_dots(unit: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(nq, count) float32 inner products of each query with its candidate rows of the float32 `unit`,
    queries split between the cores."""
    nq, count = candidates.shape
    out = np.empty((nq, count), np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    candidates = np.ascontiguousarray(candidates, dtype=np.int64)
    threads = _threads(nq)
    cuts = np.linspace(0, nq, threads + 1).astype(int)
    if threads == 1:
        _dots(unit, queries, candidates, out, 0, nq)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda part: _dots(unit, queries, candidates, out, cuts[part], cuts[part + 1]),
                          range(threads)))
    return out
