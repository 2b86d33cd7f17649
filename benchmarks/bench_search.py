"""EmbeddingSpace.search against faiss IndexFlatIP, one streaming pass, and scikit-learn, in one run.

Goals (issue 10), 1,000,000 x 384 float32: the same top-10 as faiss IndexFlatIP (recall 1.0); at most
0.8x faiss's time for one query and for a batch of 100; one query within 1.5x of one streaming pass
over the matrix (`matrix.sum(axis=0)`, which reads every byte once: the floor for an exact search).
scikit-learn NearestNeighbors(metric="cosine", algorithm="brute") is timed and printed beside them.

    python benchmarks/bench_search.py                  # 1,000,000 x 384 (1.5 GB, about 2 minutes)
    python benchmarks/bench_search.py --n 20000 --json out.json
"""

from __future__ import annotations

import time

import numpy as np
from _analysis_bench import best_time, skipped, unit_matrix, write_rows
from _report import parser, report

QUICK_N = 2000


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(a, b)) / len(b) for a, b in zip(found, truth, strict=True)]))


def main(argv=None) -> list[dict]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help=f"rows (default 1,000,000; --quick: {QUICK_N:,})")
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--batch", type=int, default=100, help="queries in the batched search")
    p.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn NearestNeighbors")
    args = p.parse_args(argv)
    n = args.n or (QUICK_N if args.quick else 1_000_000)

    from skytells_lab.analysis import EmbeddingSpace
    from skytells_lab.analysis.search import numpy_topk

    print(f"# EmbeddingSpace.search, {n:,} x {args.d}, k={args.k}")
    matrix = unit_matrix(n, args.d)
    space = EmbeddingSpace(matrix, copy=False)
    queries = unit_matrix(args.batch, args.d, seed=1)
    one, batch = queries[:1], queries
    # warm-up, and the one-time norm check
    space.search(one, args.k, progress=False), space.search(batch, args.k, progress=False)
    ours_1 = best_time(lambda: space.search(one, args.k, progress=False), args.repeat)
    ours_b = best_time(lambda: space.search(batch, args.k, progress=False), args.repeat)
    floor = best_time(lambda: matrix.sum(axis=0), args.repeat)
    print(f"  ours: 1 query {ours_1 * 1e3:.1f} ms, {args.batch} queries {ours_b * 1e3:.1f} ms; "
          f"one streaming pass {floor * 1e3:.1f} ms ({matrix.nbytes / floor / 1e9:.1f} GB/s)")
    sizes = {"n": n, "d": args.d, "k": args.k}
    rows = []

    try:
        import faiss
    except ImportError:
        faiss = None
    goals = {"recall": "same top-10 as faiss IndexFlatIP (recall 1.0)",
             "one": "at most 0.8x faiss IndexFlatIP, 1 query",
             "batch": f"at most 0.8x faiss IndexFlatIP, {args.batch} queries"}
    if faiss is None:
        rows += [skipped(f"search {key} vs faiss", goal, "faiss not installed")
                 for key, goal in goals.items()]
    else:
        started = time.perf_counter()
        index = faiss.IndexFlatIP(args.d)
        index.add(matrix)
        print(f"  faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads): IndexFlatIP built in "
              f"{time.perf_counter() - started:.2f} s")
        index.search(one, args.k)
        faiss_1 = best_time(lambda: index.search(one, args.k), args.repeat)
        faiss_b = best_time(lambda: index.search(batch, args.k), max(1, args.repeat - 1))
        hit = recall(numpy_topk(space.normalized, batch, args.k)[1], index.search(batch, args.k)[1])
        del index
        rows.append(report("search recall vs faiss", goals["recall"], f"recall@{args.k} {hit:.4f} on "
                           f"{args.batch} queries", hit == 1.0, None, recall=hit, **sizes))
        for key, ours, theirs, count in (("one", ours_1, faiss_1, 1), ("batch", ours_b, faiss_b, args.batch)):
            ratio = ours / theirs
            rows.append(report(f"search {count} quer{'y' if count == 1 else 'ies'} vs faiss", goals[key],
                               f"{ours * 1e3:.1f} ms vs faiss {theirs * 1e3:.1f} ms = {ratio:.2f}x",
                               ratio <= 0.8, None, ratio=ratio, ours_s=ours, faiss_s=theirs, **sizes))
    ratio = ours_1 / floor
    rows.append(report("search 1 query vs streaming pass", "within 1.5x of one pass over the matrix",
                       f"{ours_1 * 1e3:.1f} ms vs pass {floor * 1e3:.1f} ms = {ratio:.2f}x",
                       ratio <= 1.5, None,
                       ratio=ratio, ours_s=ours_1, pass_s=floor, **sizes))

    if not args.no_sklearn:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=args.k, metric="cosine", algorithm="brute").fit(matrix)
        nn.kneighbors(one)
        sk_1 = best_time(lambda: nn.kneighbors(one), 1)
        sk_b = best_time(lambda: nn.kneighbors(batch), 1)
        print(f"  sklearn NearestNeighbors brute cosine: 1 query {sk_1 * 1e3:.1f} ms "
              f"(ours {ours_1 / sk_1:.2f}x), "
              f"{args.batch} queries {sk_b * 1e3:.1f} ms (ours {ours_b / sk_b:.2f}x)")
        for row in rows:
            row.update(sklearn_1_s=sk_1, sklearn_batch_s=sk_b)
    write_rows(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
