"""The notebook layer's view of a client's result store, through the client's public API only.

The store, the ledger and the budget are client features (``client.cache``, ``client.ledger``,
``client.budget(...)``; docs/architecture.md); ``client.run`` and ``client.embed`` apply the cache policy
themselves. What is here serves the notebook's own cached calls (the accessor's chat replies) and tests.
Nothing here imports pandas.
"""

from __future__ import annotations

from typing import Any

from skytells_lab.api._store import Cache, cached_prediction, cached_vectors, store_prediction, store_vectors

__all__ = ["cache_for", "cached_prediction", "cached_vectors", "identity_of", "store_prediction", "store_vectors"]


def cache_for(client: Any) -> Cache | None:
    """The client's result store (None when it was made with ``store=None``)."""
    return client.cache


def identity_of(client: Any, model: str) -> dict | None:
    """What answers ``model`` on a sync ``client``, for cache keys (``client.models.identity``)."""
    return client.models.identity(model)
