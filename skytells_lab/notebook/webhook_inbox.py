"""``WebhookInbox``: a tiny loopback HTTP receiver whose URL a notebook hands out as a prediction's webhook.

>>> inbox = sl.WebhookInbox(client=client)        # the local server's secret is found; or secret="..."
>>> client.predictions.create(model, input, webhook=inbox.webhook())
>>> inbox.wait_for(prediction_id=p.id, type="prediction.succeeded"); inbox.frame()

Each POST's raw body is checked against ``X-Skytells-Signature`` (HMAC-SHA256) with the secret; bodies
that fail are answered 401 and counted in ``rejected``, never collected. The secret is ``secret=``, else
that of the embedded server behind ``client`` when it runs in this process, else ``SKYTELLS_WEBHOOK_SECRET``,
which `skytells-lab lab` and Binder's session server set for their kernels. Without a secret events are
collected with ``verified=False``. A request whose ``Content-Length`` is not one plain number within
``MAX_BODY`` (negative, garbage, duplicated, huge, chunked), or whose body stops short of it, is answered
400/411/413 and counted in ``rejected``; the inbox keeps serving. It listens on 127.0.0.1 only: the service cannot reach it, so it is
for the embedded local server (or a tunnel you set up yourself).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self

__all__ = ["InboxEvent", "WebhookInbox"]

MAX_BODY = 8 * 1024 * 1024
READ_TIMEOUT = 10.0  # seconds of silence before a half-sent request is dropped
_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)


def _content_length(values: list[str], transfer_encoding: str | None) -> int | str:
    """The body length a request announced, or why it is refused: "bad" (400), "chunked" (411: bodies
    must be delimited by Content-Length), "too large" (413). Only plain ASCII digits count: no sign, no
    spaces inside, no other scripts' digits, one value (differing duplicates are a smuggling attempt)."""
    if transfer_encoding:
        return "chunked"
    if not values:
        return 0
    distinct = {v.strip() for v in values}
    if len(distinct) != 1:
        return "bad"
    text = distinct.pop()
    if not _DIGITS.fullmatch(text):
        return "too large" if text.isascii() and text.isdigit() else "bad"
    length = int(text)
    return "too large" if length > MAX_BODY else length


@dataclass(frozen=True)
class InboxEvent:
    """One delivery the inbox accepted."""

    received_at: datetime
    type: str
    prediction_id: str
    status: str
    verified: bool
    event: Any = field(repr=False)  # the parsed WebhookEvent (``.prediction`` is a Prediction)
    body: bytes = field(repr=False, default=b"")


def _local_secret(client: Any) -> str | None:
    """The signing secret of the embedded server behind ``client``, when it runs in this process."""
    if client is None or not getattr(client, "is_local", False):
        return None
    try:
        from skytells_lab.local import server as local_server
    except ImportError:
        return None
    base = str(getattr(client, "base_url", "")).rstrip("/")
    for srv in list(getattr(local_server, "_LIVE", ())):
        if srv.url.rstrip("/") == base:
            return srv.webhook_secret
    return None


class WebhookInbox:
    """A receiver on ``http://127.0.0.1:<port>/webhook`` collecting verified webhook events."""

    def __init__(self, secret: str | None = None, *, client: Any = None, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/webhook") -> None:
        # a server in this process knows its own secret; a session server (`skytells-lab lab`, Binder) hands
        # its secret to the kernels it serves in SKYTELLS_WEBHOOK_SECRET
        self._secret = secret or _local_secret(client) or os.environ.get("SKYTELLS_WEBHOOK_SECRET")
        self.path = path if path.startswith("/") else "/" + path
        self.events: list[InboxEvent] = []
        self.rejected = 0
        self.replays = 0
        # The signature covers the raw body only (no timestamp), so an identical body is a redelivery or a
        # replay: acknowledged, never collected twice.
        self._seen: set[str] = set()
        self._changed = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT  # a sender that announces more than it sends is dropped, not waited on

            def do_POST(self) -> None:
                length = _content_length(self.headers.get_all("content-length") or [],
                                         self.headers.get("transfer-encoding"))
                if isinstance(length, str):
                    inbox._refused()
                    self._answer({"too large": 413, "chunked": 411}.get(length, 400))
                    return
                if self.path.split("?", 1)[0] != inbox.path:
                    self._answer(404)
                    return
                try:
                    body = self.rfile.read(length) if length else b""
                except OSError:  # includes the read timeout
                    body = b""
                if len(body) != length:  # the sender hung up or went silent before the announced length
                    inbox._refused()
                    self._answer(400)
                    return
                self._answer(inbox._receive(body, self.headers.get("x-skytells-signature")))

            def _answer(self, code: int) -> None:
                # an unread or undelimited body must not be parsed as the next request: always close
                self.close_connection = True
                try:
                    self.send_response(code)
                    self.send_header("content-length", "0")
                    self.send_header("connection", "close")
                    self.end_headers()
                except OSError:  # the sender is gone
                    pass

            def log_message(self, *args: Any) -> None:  # quiet: a notebook is no server log
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="skytells-webhook-inbox",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ receiving

    def _refused(self) -> None:
        with self._changed:
            self.rejected += 1
            self._changed.notify_all()

    def _receive(self, body: bytes, signature: str | None) -> int:
        from skytells_lab.api import parse_webhook, verify_webhook

        verified = False
        if self._secret is not None:
            if not verify_webhook(body, signature, self._secret):
                with self._changed:
                    self.rejected += 1
                    self._changed.notify_all()
                return 401
            verified = True
        try:
            event = parse_webhook(body)
        except Exception:  # noqa: BLE001 - any unparsable body is refused, never raised in the server thread
            with self._changed:
                self.rejected += 1
            return 400
        digest = hashlib.sha256(body).hexdigest()
        with self._changed:
            if digest in self._seen:
                self.replays += 1
                return 200
            self._seen.add(digest)
        item = InboxEvent(received_at=datetime.now(timezone.utc), type=event.type, prediction_id=event.prediction.id,
                          status=str(getattr(event.prediction.status, "value", event.prediction.status)),
                          verified=verified, event=event, body=body)
        with self._changed:
            self.events.append(item)
            self._changed.notify_all()
        return 200

    # ------------------------------------------------------------------ using it

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    @property
    def verifies(self) -> bool:
        return self._secret is not None

    def webhook(self, events: list[str] | None = None) -> dict[str, Any]:
        """The ``webhook=`` value for ``predictions.create``: ``{url, events}`` (all events by default)."""
        return {"url": self.url, "events": list(events or [])}

    def matching(self, *, prediction_id: str | None = None, type: str | None = None) -> list[InboxEvent]:
        with self._changed:
            return [e for e in self.events if (prediction_id is None or e.prediction_id == prediction_id)
                    and (type is None or e.type == type or e.status == type)]

    def wait_for(self, *, prediction_id: str | None = None, type: str | None = None, count: int = 1,
                 timeout: float = 30.0) -> list[InboxEvent]:
        """Block until ``count`` events match (``type`` is an event name or a status); TimeoutError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.matching(prediction_id=prediction_id, type=type)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} webhook event(s) arrived at {self.url} within "
                                       f"{timeout:g}s (rejected: {self.rejected})")
                self._changed.wait(left)

    def frame(self):
        """One row per event: received_at (UTC), type, prediction_id, status, verified."""
        import pandas as pd

        rows = [{"received_at": e.received_at, "type": e.type, "prediction_id": e.prediction_id,
                 "status": e.status, "verified": e.verified} for e in list(self.events)]
        df = pd.DataFrame(rows, columns=["received_at", "type", "prediction_id", "status", "verified"])
        df["received_at"] = pd.to_datetime(df["received_at"], utc=True)
        for col in ("type", "status"):
            df[col] = df[col].astype("category")
        df["prediction_id"] = df["prediction_id"].astype("string")
        df["verified"] = df["verified"].astype(bool)
        df.attrs["skytells"] = {"what": "webhooks", "url": self.url, "rejected": self.rejected}
        return df

    def clear(self) -> None:
        with self._changed:
            self.events.clear()
            self.rejected = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(list(self.events))

    def __repr__(self) -> str:
        check = "verifying" if self.verifies else "not verifying"
        return f"WebhookInbox({self.url!r}, {len(self.events)} events, {self.rejected} rejected, {check})"

    def _repr_html_(self) -> str:
        from skytells_lab.notebook.display import inbox_html

        return inbox_html(self)
