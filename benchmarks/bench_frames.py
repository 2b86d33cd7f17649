"""A DataFrame of 100,000 predictions: ``skytells_lab.notebook.frames.predictions_frame`` against
``pandas.json_normalize`` on the same dicts. Goal: at most 1.5x.

Ours starts from the typed ``Prediction`` objects the client hands out (parsed beforehand, untimed: parsing
is the client's work, timed apart and printed); the reference flattens the raw wire dicts. Best of
``repeats`` alternating runs each.
"""

from __future__ import annotations

import time

from _local import REPO  # noqa: F401 - sets sys.path
from _report import parser, report


def wire_prediction(i: int) -> dict:
    """One prediction as the service shapes it (succeeded, failed or running), with an image output."""
    pid = f"{i:08x}-0000-4000-8000-{i:012x}"
    status = ("succeeded", "failed", "processing", "succeeded")[i % 4]
    done = status != "processing"
    files = f"http://127.0.0.1:8000/v1/files/{pid}/"
    return {
        "id": pid, "status": status, "type": "inference", "stream": False,
        "input": {"prompt": f"a handwritten {i % 10}", "num_inference_steps": 25, "seed": i},
        "output": [files + "out-0.png"] if status == "succeeded" else None,
        "error": "Failed to generate image." if status == "failed" else None,
        "created_at": f"2026-03-{1 + i % 28:02d}T12:{i % 60:02d}:{(i // 60) % 60:02d}.000000Z",
        "started_at": f"2026-03-{1 + i % 28:02d}T12:{i % 60:02d}:{(i // 60) % 60:02d}+00:00",
        "completed_at": f"2026-03-{1 + i % 28:02d}T12:{i % 60:02d}:{(i // 60) % 60:02d}+00:00" if done else None,
        "updated_at": f"2026-03-{1 + i % 28:02d}T12:{i % 60:02d}:{(i // 60) % 60:02d}.000000Z",
        "privacy": "private", "source": "api",
        "model": {"name": ("digits-diffusion", "truefusion", "flux-pro")[i % 3], "type": "image"},
        "webhook": {"url": None, "events": []},
        "metrics": {"predict_time": 1.25 + (i % 7) / 10, "total_time": 2.5, "progress": 100.0 if done else 40.0},
        "metadata": {"billing": {"credits_used": 0.01}, "storage": {"files": []}, "data_available": done},
        "urls": {"get": f"http://127.0.0.1:8000/v1/predictions/{pid}"},
    }


class _Pages:
    """Stands in for ``client.predictions``: ``iter()`` yields the already-parsed predictions."""

    def __init__(self, predictions: list) -> None:
        self._predictions = predictions

    def iter(self, **_filters):
        return iter(self._predictions)


class _Client:
    is_local = True
    base_url = "http://127.0.0.1:8000/v1"

    def __init__(self, predictions: list) -> None:
        self.predictions = _Pages(predictions)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    n = args.rows or (1000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)

    import pandas as pd

    from skytells_lab.api import Prediction
    from skytells_lab.notebook.frames import predictions_frame

    dicts = [wire_prediction(i) for i in range(n)]
    started = time.perf_counter()
    predictions = [Prediction.model_validate(d) for d in dicts]
    parse_s = time.perf_counter() - started
    client = _Client(predictions)
    ours_t, ref_t = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        df = predictions_frame(client, per_page=50)
        ours_t.append(time.perf_counter() - started)
        started = time.perf_counter()
        ref = pd.json_normalize(dicts)
        ref_t.append(time.perf_counter() - started)
    assert len(df) == len(ref) == n
    ratio = min(ours_t) / min(ref_t)
    report("frames", "predictions_frame at most 1.5x pandas.json_normalize on the same predictions",
           f"{min(ours_t) * 1000:.0f} ms vs json_normalize {min(ref_t) * 1000:.0f} ms = {ratio:.2f}x "
           f"({n:,} predictions, best of {repeats}; parsing them into Prediction objects took {parse_s:.1f} s)",
           ratio <= 1.5, args.json, ratio=ratio, rows=n, ours_s=min(ours_t), reference_s=min(ref_t),
           parse_s=parse_s)


if __name__ == "__main__":
    main()
