"""EmbeddingSpace memory at 1,000,000 x 384: peak RSS under 2x the matrix's bytes.

One process builds a raw (not unit-length) float32 matrix, makes an EmbeddingSpace with copy=False
(normalized in place, block by block), then searches it (1 and 100 queries), computes the kNN graph of
a block of rows, scans a slice for near-duplicates and clusters it all with MiniBatchKMeans. Peak RSS
(the process's high-water mark, interpreter and libraries included) is compared with the matrix's
bytes; each step's own peak, sampled from /proc, is printed. MiniBatchKMeans on 100,000 x 384 is timed.

    python benchmarks/bench_space_memory.py            # 1,000,000 x 384 (1.5 GB; about 2 minutes)
    python benchmarks/bench_space_memory.py --n 50000 --json out.json
"""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path

import numpy as np
from _analysis_bench import write_rows
from _report import parser, report

QUICK_N = 3000
PAGE = resource.getpagesize()


class RssSampler:
    """Samples this process's resident set from /proc every 2 ms; `peak` since the last reset."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._statm = Path("/proc/self/statm")
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self._statm.exists():
            self._thread.start()

    def current(self) -> int:
        return int(self._statm.read_text().split()[1]) * PAGE if self._statm.exists() else 0

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.current())

    def reset(self) -> None:
        self.peak = self.current()

    def stop(self) -> None:
        self._stop.set()


def high_water() -> int:
    """Peak RSS of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None) -> list[dict]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help=f"rows (default 1,000,000; --quick: {QUICK_N:,})")
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--knn-rows", type=int, default=1024, help="rows whose kNN are computed")
    p.add_argument("--dup-rows", type=int, default=20_000, help="rows scanned for near-duplicates")
    p.add_argument("--clusters", type=int, default=10)
    args = p.parse_args(argv)
    n, d = args.n or (QUICK_N if args.quick else 1_000_000), args.d

    import sklearn.cluster  # noqa: F401  (libraries load before the baseline: they are not the space's memory)

    from skytells_lab.analysis import Clusterer, EmbeddingSpace

    sampler = RssSampler()
    baseline = sampler.current()
    print(f"# EmbeddingSpace memory, {n:,} x {d}; interpreter and libraries: {baseline / 2**20:,.0f} MiB")
    steps = {}

    def step(name, fn):
        sampler.reset()
        started = time.perf_counter()
        result = fn()
        steps[name] = {"seconds": time.perf_counter() - started, "peak_bytes": sampler.peak}
        print(f"  {name:<44} {steps[name]['seconds']:8.2f} s   "
              f"step peak RSS {sampler.peak / 2**20:9,.0f} MiB")
        return result

    matrix = step("raw float32 matrix", lambda: np.random.default_rng(0).standard_normal((n, d), np.float32))
    space = EmbeddingSpace(matrix, copy=False)
    step("normalize in place (copy=False)", lambda: space.normalized)
    queries = np.random.default_rng(1).standard_normal((100, d), np.float32)
    step("search, 1 query", lambda: space.search(queries[:1], 10, progress=False))
    step("search, 100 queries", lambda: space.search(queries, 10, progress=False))
    rows = np.arange(min(args.knn_rows, n - 1))
    step(f"neighbors(10) of {len(rows):,} rows", lambda: space.neighbors(10, rows=rows, progress=False))
    part = EmbeddingSpace(space.normalized[: min(args.dup_rows, n)])
    step(f"duplicates(0.9) of {len(part):,} rows", lambda: part.duplicates(0.9, progress=False))
    step(f"cluster kmeans k={args.clusters} (MiniBatchKMeans above 20k)",
         lambda: space.cluster("kmeans", args.clusters))
    sub = space.normalized[: min(100_000, n)]
    step(f"MiniBatchKMeans k={args.clusters}, {len(sub):,} rows",
         lambda: Clusterer("kmeans", args.clusters).fit(sub))
    sampler.stop()

    peak = max(high_water(), *(s["peak_bytes"] for s in steps.values()))
    ratio = peak / matrix.nbytes
    over = (peak - baseline) / matrix.nbytes
    row = report("space memory", "peak RSS under 2x the matrix's bytes",
                 f"peak {peak / 2**30:.2f} GiB = {ratio:.2f}x the {matrix.nbytes / 2**30:.2f} GiB matrix "
                 f"({over:.2f}x above the interpreter)", ratio < 2, None,
                 n=n, d=d, ratio=ratio, ratio_above_baseline=over, peak_bytes=peak, baseline_bytes=baseline,
                 steps=steps)
    write_rows([row], args.json)
    return [row]


if __name__ == "__main__":
    main()
