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
    "identity_of",
    "is_seeded",
    "ledger_for",
    "model_identity",
    "set_budget",
    "store_prediction",
    "store_vectors",
]

_lock = threading.RLock()


def _state(client: Any) -> Any:
    return getattr(client, "_state", client)


def backend_of(client: Any) -> str:
    """The base URL a client talks to (never the key)."""
    return str(getattr(client, "base_url", "") or "")


# catalog fields that change while the same weights answer: a first call loads them, an operator pauses them
_VOLATILE_METADATA = ("cold_boot",)
_VOLATILE_FIELDS = ("status",)


def model_identity(client: Any, model: str):
    """An operation (``yield from`` it in an op, or ``client._execute`` it) returning what identifies the
    model that would answer ``model`` on ``client``, for result-cache keys: the base URL, the backend's
    version (``GET /health`` on the local server) and the model's catalog entry (for the local server it
    names the alias target in ``namespace`` and carries a fingerprint of the weights; for the service, its
    version and update time where the entry has them). ``None`` when the catalog does not answer: then
    nothing is read from or written to the cache."""
    from skytells_lab.api import errors as E
    from skytells_lab.api._http import Call
    from skytells_lab.api._operations import get_model

    try:
        entry = yield from get_model(model, fields=["input_schema"])
    except (E.SkytellsError, ValueError):  # no such model, no catalog, or a body that is not a model
        return None
    version = None
    if getattr(client, "is_local", False):
        try:
            health = yield Call("GET", "/health", kind="status", max_retries=1)
        except E.SkytellsError:
            return None
        version = health.get("version") if isinstance(health, dict) else None
    described = entry.model_dump(mode="json", exclude_none=True)
    for name in _VOLATILE_FIELDS:
        described.pop(name, None)
    metadata = dict(described.get("metadata") or {})
    for name in _VOLATILE_METADATA:
        metadata.pop(name, None)
    described["metadata"] = metadata
    return {"base_url": backend_of(client), "backend_version": version, "model": described}


def identity_of(client: Any, model: str) -> dict | None:
    """:func:`model_identity` run on a sync client (one ``GET /models/{slug}``, plus ``/health`` locally)."""
    return client._execute(model_identity(client, model))


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


def cached_vectors(client: Any, texts: list[str], model: str, dimensions: int | None, identity: Any):
    """``(found, missing)`` for texts embedded before by this model ``identity`` with these dimensions."""
    cache = cache_for(client)
    if not cache.enabled or identity is None:
        return {}, list(range(len(texts)))
    return cache.get_vectors(model, texts, {"dimensions": dimensions}, backend=identity)


def store_vectors(client: Any, texts: list[str], vectors: Any, model: str, dimensions: int | None,
                  identity: Any) -> None:
    cache = cache_for(client)
    if cache.enabled and identity is not None:
        cache.set_vectors(model, texts, vectors, {"dimensions": dimensions}, backend=identity)


# --------------------------------------------------------------------------- predictions


def is_seeded(input: dict | None) -> bool:
    return isinstance(input, dict) and input.get("seed") is not None


def cached_prediction(client: Any, model: str, input: dict, identity: Any) -> Any:
    """The succeeded Prediction stored for (model ``identity``, input), bound to ``client``, or None.

    ``identity`` is :func:`model_identity`'s answer; None (the catalog did not answer) never hits. A hit
    is marked (``prediction._cached``), so timings can leave it out."""
    cache = cache_for(client)
    if not cache.enabled or identity is None:
        return None
    raw = cache.get(cache_key("prediction", model, input, backend=identity))
    if raw is None:
        return None
    from skytells_lab.api import Prediction

    prediction = Prediction.model_validate(json.loads(raw))
    if not getattr(client, "is_local", False) and not _outputs_still_served(prediction):
        return None
    prediction._client = client
    prediction._cached = True
    return prediction


# the service deletes output files 5 minutes after a prediction ends; a cached copy is no use after that
SERVICE_RETENTION_S = 240.0


def _outputs_still_served(prediction: Any) -> bool:
    from datetime import datetime, timezone

    done = prediction.completed_at
    if done is None or not prediction.outputs:
        return not prediction.outputs
    return (datetime.now(timezone.utc) - done).total_seconds() < SERVICE_RETENTION_S


def store_prediction(client: Any, model: str, input: dict, prediction: Any, identity: Any) -> None:
    cache = cache_for(client)
    succeeded = str(getattr(prediction.status, "value", prediction.status)) == "succeeded"
    if cache.enabled and identity is not None and succeeded:
        body = json.dumps(prediction.raw or prediction.model_dump(mode="json"), default=str).encode("utf-8")
        cache.set(cache_key("prediction", model, input, backend=identity), body, kind="prediction", model=model)


async def embed_with_cache(client: Any, texts: list[str], model: str, dimensions: int | None, fetch):
    """``client.embed`` (``client`` async) through the cache: only texts never embedded by this model
    (:func:`model_identity`) with these dimensions are sent, each once; ``await fetch(texts)`` returns
    their float32 (n, d) vectors."""
    import numpy as np

    identity = await client._execute(model_identity(client, model)) if cache_for(client).enabled else None
    found, missing = cached_vectors(client, texts, model, dimensions, identity)
    if missing:
        unique = list(dict.fromkeys(texts[i] for i in missing))
        fresh = np.asarray(await fetch(unique), dtype=np.float32)
        store_vectors(client, unique, fresh, model, dimensions, identity)
        row = {t: fresh[i] for i, t in enumerate(unique)}
        found.update((i, row[texts[i]]) for i in missing)
    if not texts:
        return np.zeros((0, dimensions or 0), dtype=np.float32)
    return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)
