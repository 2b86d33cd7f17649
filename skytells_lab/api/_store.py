"""The result store seam and its default: a persistent, content-addressed cache in sqlite.

A client takes ``store=`` (any :class:`ResultStore`; ``None`` for none); ``client.run`` and ``client.embed``
read and write it under keys of (kind, backend, model, request) -> result.

Keys are SHA-256 digests of a canonical JSON of what determines the result (the backend's URL and
version, the answering model's catalog entry and weights fingerprint, the input and the parameters), so neither keys nor rows hold key material. The database runs
in WAL mode with a busy timeout and every write is one short transaction, so two notebooks (two
processes) can read and write the same cache at once. Values are bytes: JSON for predictions and
chat, raw float32 for embedding vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from skytells_lab import _html
from skytells_lab._paths import data_home

__all__ = ["Cache", "ResultStore", "cache_key", "data_home", "default_cache_path"]


@runtime_checkable
class ResultStore(Protocol):
    """What a client needs of a result store: bytes by key, and a switch. :class:`Cache` is the default;
    a dict-backed class with these three members is enough to plug in another."""

    enabled: bool

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        ...

    def set_many(self, items: Iterable[tuple[str, bytes]], *, kind: str = "", model: str | None = None) -> None:
        """Store ``(key, value)`` pairs; ``kind`` ("prediction", "embedding", "chat") and ``model`` label them."""
        ...

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT, value BLOB NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind);
"""
_BATCH = 500  # sqlite's host-parameter limit is 999 on old builds


def default_cache_path() -> Path:
    return data_home() / "cache.db"


def _canonical(value: Any) -> Any:
    """JSON-able form with sorted keys; numpy scalars and tuples included."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def cache_key(kind: str, model: str | None, request: Any, *, backend: Any = "") -> str:
    """Hex SHA-256 of what determines a result. ``backend`` says what answers: a base URL, or what
    :func:`skytells_lab.api._operations.model_identity` returns (URL, backend version, catalog entry,
    weights fingerprint); never a key."""
    blob = json.dumps([kind, _canonical(backend), model, _canonical(request)], separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Content-addressed results on disk, shared by every client and process on the machine.

    >>> cache = Cache()            # SKYTELLS_LAB_HOME/cache.db
    >>> cache.disable(); cache.enable(); cache.clear()
    """

    def __init__(self, path: str | os.PathLike | None = None, *, enabled: bool | None = None,
                 timeout: float = 60.0):
        self.path = Path(path) if path is not None else default_cache_path()
        # SKYTELLS_LAB_CACHE=0 (or off/false/no) starts every cache switched off
        if enabled is None:
            enabled = os.environ.get("SKYTELLS_LAB_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")
        self.enabled = enabled
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    # connection per thread and per process: a sqlite connection must not cross a fork
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")
        self._retry(lambda: conn.executescript(_SCHEMA))
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _retry(self, op):
        """Run ``op``; a 'database is locked' that outlived the busy timeout is retried until ``timeout``."""
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                return op()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    # ------------------------------------------------------------------ switches

    def disable(self) -> Cache:
        """Stop reading and writing (the entries stay on disk)."""
        self.enabled = False
        return self

    def enable(self) -> Cache:
        self.enabled = True
        return self

    def clear(self, kind: str | None = None) -> int:
        """Delete every entry (or those of one kind); returns how many were deleted."""
        db = self._db()
        if kind is None:
            return self._retry(lambda: db.execute("DELETE FROM entries").rowcount)
        return self._retry(lambda: db.execute("DELETE FROM entries WHERE kind = ?", (kind,)).rowcount)

    # ------------------------------------------------------------------ raw access by key

    def get(self, key: str) -> bytes | None:
        if not self.enabled:
            return None
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are present."""
        keys = list(dict.fromkeys(keys))
        if not self.enabled or not keys:
            return {}
        db = self._db()
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            sql = f"SELECT key, value FROM entries WHERE key IN ({','.join('?' * len(chunk))})"
            rows = self._retry(lambda sql=sql, chunk=chunk: db.execute(sql, chunk).fetchall())
            found.update((k, bytes(v)) for k, v in rows)
        with self._lock:
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def set(self, key: str, value: bytes, *, kind: str = "", model: str | None = None) -> None:
        self.set_many([(key, value)], kind=kind, model=model)

    def set_many(self, items: Iterable[tuple[str, bytes]], *, kind: str = "", model: str | None = None) -> None:
        if not self.enabled:
            return
        now = time.time()
        rows = [(k, kind, model, sqlite3.Binary(v), now) for k, v in items]
        if not rows:
            return
        db = self._db()

        def write():
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO entries (key, kind, model, value, created) VALUES (?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        self._retry(write)

    # ------------------------------------------------------------------ typed helpers

    def get_json(self, kind: str, model: str | None, request: Any, *, backend: Any = "") -> Any:
        raw = self.get(cache_key(kind, model, request, backend=backend))
        return None if raw is None else json.loads(raw)

    def set_json(self, kind: str, model: str | None, request: Any, value: Any, *, backend: Any = "") -> None:
        data = json.dumps(value, default=str, separators=(",", ":")).encode("utf-8")
        self.set(cache_key(kind, model, request, backend=backend), data, kind=kind, model=model)

    def get_vectors(self, model: str | None, texts: list[str], params: dict | None = None, *, backend: Any = ""):
        """``(found, missing)``: {position: float32 vector} for cached texts and the positions not cached."""
        return read_vectors(self, model, texts, params, backend)

    def set_vectors(self, model: str | None, texts: list[str], vectors, params: dict | None = None, *,
                    backend: Any = "") -> None:
        write_vectors(self, model, texts, vectors, params, backend)

    # ------------------------------------------------------------------ inspection

    def stats(self) -> dict[str, Any]:
        """Entries per kind, size on disk, this session's hits and misses."""
        db = self._db()
        rows = self._retry(lambda: db.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind").fetchall())
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())
        return {"enabled": self.enabled, "path": str(self.path), "entries": dict(rows), "bytes": size,
                "hits": self.hits, "misses": self.misses}

    def __len__(self) -> int:
        db = self._db()
        return self._retry(lambda: db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Cache({str(self.path)!r}, {state}, hits={self.hits}, misses={self.misses})"

    def _repr_html_(self) -> str:
        stats = self.stats()
        entries = ", ".join(f"{k}: {v}" for k, v in stats["entries"].items()) or "0"
        rows = [("path", _html.e(stats["path"])), ("entries", _html.e(entries)),
                ("size", _html.e(f"{stats['bytes'] / 1e6:.2f} MB")),
                ("this session", _html.e(f"{stats['hits']} hits, {stats['misses']} misses"))]
        on = stats["enabled"]
        return _html.card("Cache", body=_html.rows(rows),
                          badges=_html.badge("on" if on else "off", _html.SUCCESS if on else _html.NEUTRAL))


# --------------------------------------------------------------------------- the cache policy of client.run/embed
# Keys hold what answers (``model_identity``: base URL, backend version, catalog entry, weights): a result
# is never taken from another server or other weights. ``identity=None`` (the catalog did not answer) never
# reads nor writes.


def _usable(client: Any, identity: Any) -> ResultStore | None:
    store = client.cache
    return store if store is not None and store.enabled and identity is not None else None


def read_vectors(store: ResultStore, model: str | None, texts: list[str], params: dict | None, backend: Any):
    """``(found, missing)``: {position: float32 vector} for the texts ``store`` holds, and the other positions."""
    import numpy as np

    keys = [cache_key("embedding", model, {"text": t, **(params or {})}, backend=backend) for t in texts]
    stored = store.get_many(keys)
    found = {i: np.frombuffer(stored[k], dtype="<f4") for i, k in enumerate(keys) if k in stored}
    return found, [i for i, k in enumerate(keys) if k not in stored]


def write_vectors(store: ResultStore, model: str | None, texts: list[str], vectors: Any, params: dict | None,
                  backend: Any) -> None:
    import numpy as np

    matrix = np.asarray(vectors, dtype="<f4")
    store.set_many([(cache_key("embedding", model, {"text": t, **(params or {})}, backend=backend),
                     matrix[i].tobytes()) for i, t in enumerate(texts)], kind="embedding", model=model)


def cached_vectors(client: Any, texts: list[str], model: str, dimensions: int | None, identity: Any):
    """``(found, missing)`` for texts embedded before by this model ``identity`` with these dimensions."""
    store = _usable(client, identity)
    if store is None:
        return {}, list(range(len(texts)))
    return read_vectors(store, model, texts, {"dimensions": dimensions}, identity)


def store_vectors(client: Any, texts: list[str], vectors: Any, model: str, dimensions: int | None,
                  identity: Any) -> None:
    store = _usable(client, identity)
    if store is not None:
        write_vectors(store, model, texts, vectors, {"dimensions": dimensions}, identity)


def cached_prediction(client: Any, model: str, input: dict, identity: Any) -> Any:
    """The succeeded Prediction stored for (model ``identity``, input), bound to ``client``, or None.

    A hit is marked (``prediction._cached``), so timings can leave it out."""
    from skytells_lab.api._types import Prediction

    store = _usable(client, identity)
    if store is None:
        return None
    raw = store.get_many([cache_key("prediction", model, input, backend=identity)])
    if not raw:
        return None
    prediction = Prediction.model_validate(json.loads(next(iter(raw.values()))))
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
    store = _usable(client, identity)
    succeeded = str(getattr(prediction.status, "value", prediction.status)) == "succeeded"
    if store is not None and succeeded:
        body = json.dumps(prediction.raw or prediction.model_dump(mode="json"), default=str).encode("utf-8")
        store.set_many([(cache_key("prediction", model, input, backend=identity), body)], kind="prediction",
                       model=model)
