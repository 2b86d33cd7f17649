"""Per-client notebook state (cache, ledger, budget) and the logic behind the client's thin hooks.

The state lives on the client's shared state object (``client._state``), which the clones made by
``with_options`` and the async twin used by ``client.embed`` share, so all of them feed one ledger, obey
one budget and use one cache. Nothing here imports pandas.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from skytells_lab.notebook.cache import Cache, cache_key
from skytells_lab.notebook.ledger import Budget, Ledger

__all__ = [
    "backend_of",
    "budget_of",
    "cache_for",
    "cached_prediction",
    "cached_vectors",
    "check_budget",
    "is_seeded",
    "ledger_for",
    "set_budget",
    "store_prediction",
    "store_vectors",
]

_lock = threading.RLock()


def _state(client: Any) -> Any:
    return getattr(client, "_state", client)


def backend_of(client: Any) -> str:
    """What part of a cache key says where a result came from: the base URL (never the key)."""
    return str(getattr(client, "base_url", "") or "")


def cache_for(client: Any) -> Cache:
    state = _state(client)
    with _lock:
        cache = getattr(state, "notebook_cache", None)
        if cache is None:
            cache = Cache()
            state.notebook_cache = cache
        return cache


def ledger_for(client: Any) -> Ledger:
    """The client's ledger; it holds every call since the client was made when the client logs calls
    (``client._state.call_log``), else every call from now on."""
    state = _state(client)
    with _lock:
        ledger = getattr(state, "notebook_ledger", None)
        if ledger is None:
            log = getattr(state, "call_log", None)
            ledger = Ledger(log=log) if log is not None else Ledger(client)
            state.notebook_ledger = ledger
        return ledger


def _pricing_of(client: Any) -> Callable[[str], Any]:
    def pricing(slug: str) -> Any:
        return client.models.get(slug).pricing

    return pricing


def set_budget(client: Any, credits: float | None) -> Budget | None:
    """Start a budget of ``credits`` from now (``None`` removes it); returns it."""
    state = _state(client)
    if credits is None:
        state.notebook_budget = None
        return None
    if getattr(client, "_execute", None) is not None and _is_async(client):
        raise TypeError("set the budget on a synchronous client; it applies to its async twins as well")
    budget = Budget(credits, ledger=ledger_for(client), pricing_of=_pricing_of(client))
    budget._release = lambda: setattr(state, "notebook_budget", None)
    state.notebook_budget = budget
    return budget


def budget_of(client: Any) -> Budget | None:
    return getattr(_state(client), "notebook_budget", None)


def check_budget(client: Any, kind: str, model: str | None, payload: Any) -> None:
    """Called before a request is sent: raises BudgetExceeded when it would cross the budget."""
    budget = budget_of(client)
    if budget is not None:
        budget.check(kind, model, payload if isinstance(payload, dict) else None)


def _is_async(client: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(getattr(type(client), "_execute", None))


# --------------------------------------------------------------------------- embeddings


def cached_vectors(client: Any, texts: list[str], model: str, dimensions: int | None):
    """``(found, missing)`` for texts embedded before with this backend, model and dimensions."""
    cache = cache_for(client)
    if not cache.enabled:
        return {}, list(range(len(texts)))
    return cache.get_vectors(model, texts, {"dimensions": dimensions}, backend=backend_of(client))


def store_vectors(client: Any, texts: list[str], vectors: Any, model: str, dimensions: int | None) -> None:
    cache = cache_for(client)
    if cache.enabled:
        cache.set_vectors(model, texts, vectors, {"dimensions": dimensions}, backend=backend_of(client))


# --------------------------------------------------------------------------- predictions


def is_seeded(input: dict | None) -> bool:
    return isinstance(input, dict) and input.get("seed") is not None


def _prediction_key(client: Any, model: str, input: dict) -> str:
    return cache_key("prediction", model, input, backend=backend_of(client))


def cached_prediction(client: Any, model: str, input: dict) -> Any:
    """The succeeded Prediction stored for (backend, model, input), bound to ``client``, or None."""
    cache = cache_for(client)
    raw = cache.get(_prediction_key(client, model, input)) if cache.enabled else None
    if raw is None:
        return None
    from skytells_lab.api import Prediction

    prediction = Prediction.model_validate(json.loads(raw))
    if not getattr(client, "is_local", False) and not _outputs_still_served(prediction):
        return None
    prediction._client = client
    return prediction


# the service deletes output files 5 minutes after a prediction ends; a cached copy is no use after that
SERVICE_RETENTION_S = 240.0


def _outputs_still_served(prediction: Any) -> bool:
    from datetime import datetime, timezone

    done = prediction.completed_at
    if done is None or not prediction.outputs:
        return not prediction.outputs
    return (datetime.now(timezone.utc) - done).total_seconds() < SERVICE_RETENTION_S


def store_prediction(client: Any, model: str, input: dict, prediction: Any) -> None:
    cache = cache_for(client)
    if cache.enabled and str(getattr(prediction.status, "value", prediction.status)) == "succeeded":
        body = json.dumps(prediction.raw or prediction.model_dump(mode="json"), default=str).encode("utf-8")
        cache.set(_prediction_key(client, model, input), body, kind="prediction", model=model)


async def embed_with_cache(client: Any, texts: list[str], model: str, dimensions: int | None, fetch):
    """``client.embed`` through the cache: only texts never embedded (with this backend, model and
    dimensions) are sent, each once; ``await fetch(texts)`` returns their float32 (n, d) vectors."""
    import numpy as np

    found, missing = cached_vectors(client, texts, model, dimensions)
    if missing:
        unique = list(dict.fromkeys(texts[i] for i in missing))
        fresh = np.asarray(await fetch(unique), dtype=np.float32)
        store_vectors(client, unique, fresh, model, dimensions)
        row = {t: fresh[i] for i, t in enumerate(unique)}
        found.update((i, row[texts[i]]) for i in missing)
    if not texts:
        return np.zeros((0, dimensions or 0), dtype=np.float32)
    return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)
