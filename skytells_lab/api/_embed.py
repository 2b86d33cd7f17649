"""``client.embed``: many texts -> one float32 (n, d) array, in input order.

Batches of at most 2,048 inputs (the service's limit) run concurrently up to a bound on an async client,
as base64 decoded straight into numpy. When the rate-limit headers say the request budget is nearly spent,
the batches are paced. ``run_sync`` lets the sync client use this from a notebook cell, where an event loop
is already running, by running it on a private loop in a worker thread (no process-wide asyncio patch).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from skytells_lab.api import errors as E
from skytells_lab.api._operations import model_identity
from skytells_lab.api._store import cached_vectors, store_vectors

T = TypeVar("T")

MAX_BATCH = 2048
PACE_MAX_PAUSE = 2.0  # seconds; the longest pause between batches when the budget is nearly spent


def run_sync(job: Callable[[], Awaitable[T]]) -> T:
    """Run ``job()`` to completion from sync code, whether or not this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job())
    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            outcome["value"] = asyncio.run(job())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="skytells-lab-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def spans(n: int, batch_size: int) -> list[tuple[int, int]]:
    size = max(1, min(int(batch_size), MAX_BATCH))
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _seconds(window: Any) -> float | None:
    """A rate-limit window header ("60", "60s", "1m", "1h") in seconds."""
    if isinstance(window, (int, float)):
        return float(window)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\w*\s*", str(window or ""))
    if not match:
        return None
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def pace_pause(rate_limits: dict[str, Any], concurrency: int) -> float:
    """Seconds to wait before the next batch: 0 while the request budget is comfortable."""
    remaining = rate_limits.get("remaining_requests")
    if not isinstance(remaining, int):
        return 0.0
    limit = rate_limits.get("limit_requests")
    low_water = max(concurrency, int(limit * 0.05) if isinstance(limit, int) else 0)
    if remaining > low_water:
        return 0.0
    window = _seconds(rate_limits.get("window")) or 60.0
    return min(PACE_MAX_PAUSE, window / (remaining + 1))


def _as_texts(texts: Iterable[str] | str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    items = list(texts.tolist() if hasattr(texts, "tolist") else texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"embed() takes strings; item {i} is {type(text).__name__}")
    return items


async def embed_async(client: Any, texts: Iterable[str] | str, model: str | None = None, *, batch_size: int = 256,
                      concurrency: int = 4, dimensions: int | None = None, progress: bool | None = None):
    """Through the result store (``client.cache``): only texts never embedded by this model
    (``model_identity``) with these dimensions are sent, each once."""
    import numpy as np

    items = _as_texts(texts)
    model = model or client.default_embedding_model
    store = client.cache
    identity = (await client._execute(model_identity(client, model))
                if store is not None and store.enabled else None)
    found, missing = cached_vectors(client, items, model, dimensions, identity)
    if missing:
        unique = list(dict.fromkeys(items[i] for i in missing))
        fresh = np.asarray(await _embed_uncached(client, unique, model, batch_size=batch_size,
                                                 concurrency=concurrency, dimensions=dimensions,
                                                 progress=progress), dtype=np.float32)
        store_vectors(client, unique, fresh, model, dimensions, identity)
        row = {t: fresh[i] for i, t in enumerate(unique)}
        found.update((i, row[items[i]]) for i in missing)
    if not items:
        return np.zeros((0, dimensions or 0), dtype=np.float32)
    return np.stack([found[i] for i in range(len(items))]).astype(np.float32, copy=False)


async def _embed_uncached(client: Any, texts: Iterable[str] | str, model: str | None = None, *,
                          batch_size: int = 256, concurrency: int = 4, dimensions: int | None = None,
                          progress: bool | None = None):
    import numpy as np

    items = _as_texts(texts)
    model = model or client.default_embedding_model
    parts = spans(len(items), batch_size)
    if not parts:
        return np.zeros((0, dimensions or 0), dtype=np.float32)
    bar = None
    if progress or (progress is None and len(parts) > 1):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="text", desc=f"embed {model}")
    bound = asyncio.Semaphore(max(1, int(concurrency)))
    pacing = asyncio.Lock()
    results: dict[int, Any] = {}

    async def one(start: int, end: int) -> None:
        async with bound:
            async with pacing:  # pauses are taken one batch at a time, which slows the whole run
                pause = pace_pause(client.rate_limits, concurrency)
                if pause:
                    await asyncio.sleep(pause)
            response = await client.embeddings.create(model=model, input=items[start:end],
                                                      encoding_format="base64", dimensions=dimensions)
        vectors = response.vectors
        if vectors.shape[0] != end - start:
            raise E.InvalidJSONError(
                f"embeddings batch {start}:{end} returned {vectors.shape[0]} vectors for {end - start} inputs",
                http_status=200)
        results[start] = vectors
        if bar is not None:
            bar.update(end - start)

    tasks = [asyncio.ensure_future(one(start, end)) for start, end in parts]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate([results[start] for start, _ in parts]).astype(np.float32, copy=False)
