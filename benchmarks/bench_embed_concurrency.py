"""``client.embed`` concurrency: the local server behind the fault proxy, which answers every embeddings
request 100 ms after it arrived, 64 batches. Goal: within 1.25x of the ideal ``ceil(64 / concurrency) x 100 ms``.

The 100 ms is the service's response time, its own work included (``Fault.latency``): what is measured is
whether the client keeps ``concurrency`` requests in flight and what it adds. Batches are one short text
each. The same batches also go through the proxy without the latency: that is as fast as this machine's
proxy and server can answer them (one MiniLM pass over one short text takes about 25 ms on the 2-core
build box, and the threaded proxy shares those cores).
Where that floor is itself slower than the ideal, no client can reach the ideal, so the level is judged
against the floor instead, and the line says so.
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
            Skytells(base_url=proxy.url, timeout=120, max_retries=0) as client:
        load = machine_load()
        client.embed(texts[:2], batch_size=1, progress=False)

        def best(latency: float, concurrency: int) -> float:
            proxy.chaos(1.0, [Fault.latency(latency)], method="POST", path="/v1/embeddings")
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.embed(texts, batch_size=1, concurrency=concurrency, progress=False)
                times.append(time.perf_counter() - started)
            return min(times)

        for concurrency in levels:
            seconds, floor = best(LATENCY, concurrency), best(0.0, concurrency)
            ideal = math.ceil(batches / concurrency) * LATENCY
            target = max(ideal, floor)
            results.append({"concurrency": concurrency, "seconds": seconds, "ideal_s": ideal, "floor_s": floor,
                            "ratio": seconds / ideal, "server_bound": floor > ideal, "ratio_to_target": seconds / target})
    worst = max(r["ratio_to_target"] for r in results)

    def line(r: dict) -> str:
        text = (f"c={r['concurrency']}: {r['seconds'] * 1000:.0f} ms vs ideal {r['ideal_s'] * 1000:.0f} ms "
                f"= {r['ratio']:.2f}x")
        if r["server_bound"]:
            text += (f" (server-bound: without the latency, proxy and server take {r['floor_s'] * 1000:.0f} ms; "
                     f"{r['ratio_to_target']:.2f}x that)")
        return text

    figure = "; ".join(line(r) for r in results)
    report("embed_concurrency", "within 1.25x of ceil(64/concurrency) x 100 ms, or of the server's own time where slower",
           f"{figure} ({batches} batches, best of {repeats}; {load})", worst <= 1.25, args.json,
           batches=batches, latency_s=LATENCY, levels=results, worst_ratio=worst)

if __name__ == "__main__":
    main()
