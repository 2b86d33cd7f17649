"""Embedding throughput: 2,000 texts through the client and the local server, against sentence-transformers
``encode`` in-process with the same model (all-MiniLM-L6-v2). Goal: throughput ratio >= 0.9.

The server runs in a child process; the reference runs here while the server is idle. Each side is timed
``repeats`` times, alternating, and its best time is kept (the least disturbed by other load).
"""

from __future__ import annotations

from _local import REPO, machine_load, server_process, short_texts  # noqa: F401 - REPO sets sys.path
from _report import parser, report


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--texts", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    n = args.texts or (64 if args.quick else 2000)
    repeats = args.repeats or (1 if args.quick else 3)
    texts = short_texts(n)

    import time

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from skytells_lab.api import Skytells
    from skytells_lab.local.runners.embeddings import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu")
    model.encode(texts[:8])
    ours_times, ref_times = [], []
    with server_process() as url, Skytells(base_url=url, timeout=600) as client:
        ours = client.embed(texts[:8], progress=False)
        load = machine_load()
        for _ in range(repeats):
            started = time.perf_counter()
            ours = client.embed(texts, progress=False)
            ours_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            reference = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            ref_times.append(time.perf_counter() - started)
    same = bool(np.allclose(ours, reference, atol=1e-4))
    ours_s, ref_s = min(ours_times), min(ref_times)
    ratio = ref_s / ours_s  # throughput ratio: ours / reference
    report("embed_throughput", "client + local server >= 0.9x the texts/s of in-process encode",
           f"{n / ours_s:.0f} texts/s vs encode {n / ref_s:.0f} texts/s = {ratio:.2f}x "
           f"(same vectors: {same}; {n} texts, best of {repeats}; {load})",
           ratio >= 0.9 and same, args.json, ratio=ratio, texts=n, ours_s=ours_s, reference_s=ref_s,
           same_vectors=same, ours_runs=ours_times, reference_runs=ref_times)


if __name__ == "__main__":
    main()
