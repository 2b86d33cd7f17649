"""The persistent result cache, as the notebook layer names it: the client's default result store.

It lives with the client (``skytells_lab.api._store``), which reads and writes it itself; this module
keeps the notebook-facing names.
"""

from __future__ import annotations

from skytells_lab.api._store import Cache, ResultStore, cache_key, data_home, default_cache_path

__all__ = ["Cache", "ResultStore", "cache_key", "data_home", "default_cache_path"]
