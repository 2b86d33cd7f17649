"""``client.embed`` concurrency: the local server behind the fault proxy with 100 ms injected on every
embeddings request, 64 batches. Goal: within 1.25x of the ideal ``ceil(64 / concurrency) x 100 ms``.

Batches are one short text each, so the server's own compute stays small next to the injected latency; its
time for the same 64 batches without latency (at the same concurrency) is printed beside the figure.
"""

from __future__ import annotations

import math
import time

from _local import REPO, machine_load, server_process  # noqa: F401 - REPO sets sys.path
from _report import parser, report

LATENCY = 0.1


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--batches", type=int, default=None)
    p.add_argument("--concurrency", type=int, nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    batches = args.batches or (8 if args.quick else 64)
    levels = args.concurrency or ([4] if args.quick else [4, 8, 16])
    repeats = args.repeats or (1 if args.quick else 3)

    from support.faults import Fault, FaultServer

    from skytells_lab.api import Skytells

    texts = [f"w{i}" for i in range(batches)]
    results = []
    with server_process() as url, FaultServer(upstream=url) as proxy, \
            Skytells(base_url=proxy.url, timeout=120, max_retries=0) as client, \
            Skytells(base_url=url, timeout=120, max_retries=0) as direct:
        load = machine_load()
        client.embed(texts[:2], batch_size=1, progress=False)
        for concurrency in levels:
            proxy.chaos(1.0, [Fault.slow(LATENCY)], method="POST", path="/v1/embeddings")
            times, bare = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                client.embed(texts, batch_size=1, concurrency=concurrency, progress=False)
                times.append(time.perf_counter() - started)
                started = time.perf_counter()
                direct.embed(texts, batch_size=1, concurrency=concurrency, progress=False)
                bare.append(time.perf_counter() - started)
            ideal = math.ceil(batches / concurrency) * LATENCY
            results.append({"concurrency": concurrency, "seconds": min(times), "ideal_s": ideal,
                            "ratio": min(times) / ideal, "no_latency_s": min(bare)})
    worst = max(r["ratio"] for r in results)
    figure = "; ".join(f"c={r['concurrency']}: {r['seconds'] * 1000:.0f} ms vs ideal {r['ideal_s'] * 1000:.0f} ms "
                       f"= {r['ratio']:.2f}x (no latency {r['no_latency_s'] * 1000:.0f} ms)" for r in results)
    report("embed_concurrency", "within 1.25x of ceil(64/concurrency) x 100 ms",
           f"{figure} ({batches} batches, best of {repeats}; {load})", worst <= 1.25, args.json,
           batches=batches, latency_s=LATENCY, levels=results, worst_ratio=worst)


if __name__ == "__main__":
    main()
