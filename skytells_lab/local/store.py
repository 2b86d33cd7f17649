"""Persistence under one data directory: sqlite (WAL) `predictions.db` and `outputs/<id>/<file>`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ACTIVE = ("pending", "starting", "processing")
TERMINAL = ("succeeded", "failed", "cancelled")
_JSON_COLUMNS = ("input", "output", "files", "webhook", "metrics", "metadata")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, local_model TEXT NOT NULL, model_type TEXT NOT NULL,
    status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, files TEXT, error TEXT, webhook TEXT,
    stream INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'api',
    created REAL NOT NULL, started REAL, completed REAL, updated REAL NOT NULL,
    progress REAL, predict_time REAL, metrics TEXT, credits REAL, metadata TEXT, owner TEXT
);
CREATE INDEX IF NOT EXISTS predictions_created ON predictions (created);
CREATE TABLE IF NOT EXISTS ledger (ts REAL NOT NULL, kind TEXT NOT NULL, ref TEXT, credits REAL NOT NULL);
CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, created REAL NOT NULL, body TEXT NOT NULL,
                                      messages TEXT NOT NULL);
"""


class Store:
    """Predictions, stored responses and the credit ledger. Thread-safe: writes share one connection behind
    a lock; `get` reads through a connection of its own thread, which in WAL mode never waits for a writer."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir).expanduser()
        self.outputs_root = self.data_dir / "outputs"
        self.outputs_root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.data_dir / "predictions.db", check_same_thread=False,
                                   isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []

    def close(self) -> None:
        with self._lock:
            for reader in self._reader_connections:
                reader.close()
            self._reader_connections.clear()
            self._db.close()

    def _reader(self) -> sqlite3.Connection:
        reader = getattr(self._readers, "db", None)
        if reader is None:
            reader = sqlite3.connect(self.data_dir / "predictions.db", check_same_thread=False,
                                     isolation_level=None, timeout=30)
            reader.row_factory = sqlite3.Row
            reader.execute("PRAGMA query_only = ON")
            self._readers.db = reader
            with self._lock:
                self._reader_connections.append(reader)
        return reader

    # predictions -------------------------------------------------------------------------------

    def insert(self, record: dict) -> None:
        row = _encode(record)
        cols = ", ".join(row)
        with self._lock:
            self._db.execute(f"INSERT INTO predictions ({cols}) VALUES ({', '.join('?' * len(row))})",
                             list(row.values()))

    def get(self, prediction_id: str) -> dict | None:
        # fetchall steps the statement to its end, which closes the read transaction: a statement left
        # open would pin this connection to an old snapshot and hide later writes
        rows = self._reader().execute("SELECT * FROM predictions WHERE id = ?", (prediction_id,)).fetchall()
        return _decode(rows[0]) if rows else None

    def update(self, prediction_id: str, *, only_active: bool = False, **fields) -> bool:
        """Set fields; with only_active, only while the prediction has not reached a terminal status."""
        fields.setdefault("updated", time.time())
        row = _encode(fields)
        sql = f"UPDATE predictions SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?"
        args = [*row.values(), prediction_id]
        if only_active:
            sql += f" AND status IN ({', '.join('?' * len(ACTIVE))})"
            args += ACTIVE
        with self._lock:
            return self._db.execute(sql, args).rowcount == 1

    def list(self, *, model: str | None = None, status: Iterable[str] | None = None,
             since: float | None = None, until: float | None = None,
             offset: int = 0, limit: int = 15) -> tuple[list[dict], int]:
        where, args = [], []
        if model:
            where.append("(model = ? OR local_model = ?)")
            args += [model, model]
        if status:
            status = list(status)
            where.append(f"status IN ({', '.join('?' * len(status))})")
            args += status
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        if until is not None:
            where.append("created < ?")
            args.append(until)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM predictions{clause}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT * FROM predictions{clause} ORDER BY created DESC, rowid DESC "
                                    "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_decode(r) for r in rows], total

    def delete(self, prediction_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM predictions WHERE id = ?", (prediction_id,))
        shutil.rmtree(self.outputs_dir(prediction_id), ignore_errors=True)

    def fail_unfinished(self, is_orphan: Callable[[str | None], bool], reason: str) -> list[str]:
        """Mark failed the active predictions whose owning server is gone (a crash or a stop)."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, owner FROM predictions WHERE status IN ({', '.join('?' * len(ACTIVE))})",
                ACTIVE).fetchall()
            ids = [r["id"] for r in rows if is_orphan(r["owner"])]
            for pid in ids:
                self._db.execute("UPDATE predictions SET status = 'failed', error = ?, completed = ?, "
                                 "updated = ? WHERE id = ?", (reason, now, now, pid))
        return ids

    def outputs_dir(self, prediction_id: str) -> Path:
        return self.outputs_root / prediction_id

    # credits -----------------------------------------------------------------------------------

    def charge(self, kind: str, ref: str, credits: float) -> None:
        if credits:
            with self._lock:
                self._db.execute("INSERT INTO ledger VALUES (?, ?, ?, ?)", (time.time(), kind, ref, credits))

    def credits_spent(self) -> float:
        with self._lock:
            return float(self._db.execute("SELECT COALESCE(SUM(credits), 0) FROM ledger").fetchone()[0])

    # stored responses (previous_response_id chaining) ------------------------------------------

    def save_response(self, response: dict, messages: list[dict]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                             (response["id"], time.time(), json.dumps(response), json.dumps(messages)))

    def get_response(self, response_id: str) -> tuple[dict, list[dict]] | None:
        with self._lock:
            row = self._db.execute("SELECT body, messages FROM responses WHERE id = ?",
                                   (response_id,)).fetchone()
        return (json.loads(row["body"]), json.loads(row["messages"])) if row else None


def _encode(record: dict) -> dict:
    return {k: (json.dumps(v) if k in _JSON_COLUMNS and v is not None else v) for k, v in record.items()}


def _decode(row: sqlite3.Row) -> dict:
    """The record; a JSON column that no longer parses (written by hand or an older version) becomes None and
    is named in `unreadable`, so one bad row never breaks a listing."""
    record = dict(row)
    for key in _JSON_COLUMNS:
        if record.get(key) is not None:
            try:
                record[key] = json.loads(record[key])
            except (ValueError, TypeError, RecursionError):
                record[key] = None
                record.setdefault("unreadable", []).append(key)
    return record
