"""A comparison's finished calls on disk, so an interrupted `compare(..., resume="name")` picks up where it
stopped instead of paying for the same calls again.

Each finished call (its outcome: output, latency, tokens, credits, status, request id, images as PNG) is
written as it ends, under a key of the run's name, the model (label, slug, backend URL, parameters) and
the request (the input and seed/repeat). Rerunning with the same name sends only the calls that have no
entry. It lives in the same sqlite file kind as the result cache (a separate file, always on), so two
notebooks can share it.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from typing import Any

from skytells_lab.comparison.calls import Outcome

KIND = "compare-journal"


def open_journal():
    from skytells_lab.notebook.cache import Cache, data_home

    return Cache(data_home() / "compare-journal.db", enabled=True)


def journal_key(run: str, target: Any, job: tuple, request: Any) -> str:
    from skytells_lab.notebook.cache import cache_key

    model = {"label": target.label, "slug": target.slug, "params": target.params,
             "base_url": str(getattr(target.client, "base_url", ""))}
    return cache_key(KIND, target.slug, {"run": run, "model": model, "job": list(job[1:]), "request": request})


def _encode_outcome(o: Outcome) -> dict:
    data = {f.name: getattr(o, f.name) for f in dataclasses.fields(o) if f.name != "images"}
    if hasattr(data["output"], "tolist"):
        data["output"] = {"vector": data["output"].tolist()}
    images = []
    for image in o.images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    data["images"] = images
    return data


def _decode_outcome(data: dict) -> Outcome:
    import numpy as np

    output = data.get("output")
    if isinstance(output, dict) and "vector" in output:
        output = np.asarray(output["vector"], dtype=np.float32)
    images = []
    if data.get("images"):
        from PIL import Image

        images = [Image.open(io.BytesIO(base64.b64decode(b))) for b in data["images"]]
        for image in images:
            image.load()
    fields = {f.name for f in dataclasses.fields(Outcome)}
    return Outcome(**{**{k: v for k, v in data.items() if k in fields}, "output": output, "images": images})


def encode(result: Any) -> bytes:
    """A job's result (an Outcome, or (vectors, outcomes) of an embedding batch) as JSON bytes."""
    if isinstance(result, tuple):
        vectors, outcomes = result
        body = {"vectors": vectors.tolist(), "outcomes": [_encode_outcome(o) for o in outcomes]}
    else:
        body = {"outcome": _encode_outcome(result)}
    return json.dumps(body, default=str).encode("utf-8")


def decode(raw: bytes) -> Any:
    import numpy as np

    body = json.loads(raw)
    if "outcome" in body:
        return _decode_outcome(body["outcome"])
    vectors = np.asarray(body["vectors"], dtype=np.float32)
    return vectors, [_decode_outcome(o) for o in body["outcomes"]]


def journaled(journal: Any, key: str, fn, resumed: list):
    """`fn` through the journal: a stored result is returned (and counted in `resumed`), else `fn` runs
    and its result, when every call in it succeeded, is stored before it is returned."""

    def run():
        raw = journal.get(key)
        if raw is not None:
            resumed.append(key)
            return decode(raw)
        result = fn()
        outcomes = result[1] if isinstance(result, tuple) else [result]
        if all(o.ok for o in outcomes):  # a failed call is tried again on resume
            journal.set(key, encode(result), kind=KIND)
        return result

    return run
