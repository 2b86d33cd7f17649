"""A loopback HTTP server that injects faults, for tests of the client (and, as a proxy, of the local server).

    with FaultServer() as srv:                       # or FaultServer(upstream=local_server.url)
        srv.route("GET", "/v1/models", lambda req: Reply.json([...]))
        srv.script("GET", "/v1/models", Fault.status(429, headers={"Retry-After": "0"}))
        client = Skytells("sk-test", srv.url)
        client.models.list()
        assert srv.count("GET", "/v1/models") == 2

Each request first takes the next scripted fault queued for its route (``script``), or one drawn by
``chaos(rate=...)``; without a fault it is answered by a registered ``route`` handler, else forwarded to
``upstream``, else 404. Everything binds to 127.0.0.1, is bounded and stops with the context manager.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

if TYPE_CHECKING:
    from typing_extensions import Self

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "proxy-authorization", "proxy-authenticate", "content-length", "content-encoding"}


@dataclass
class Request:
    """What the server saw."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def sse(cls, events: list[Any], *, done: bool = True) -> Reply:
        """An SSE body: each event a dict (sent as ``data: <json>``) or an (event, dict) pair."""
        out = []
        for event in events:
            if isinstance(event, tuple):
                out.append(f"event: {event[0]}\ndata: {json.dumps(event[1])}\n\n")
            else:
                out.append(f"data: {json.dumps(event)}\n\n")
        if done:
            out.append("data: [DONE]\n\n")
        return cls(200, "".join(out).encode(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})


@dataclass
class Fault:
    """One injected misbehaviour; build with the classmethods."""

    kind: str
    reply: Reply | None = None
    seconds: float = 0.0
    keep_bytes: int | None = None

    @classmethod
    def status(cls, code: int, body: Any = None, headers: dict[str, str] | None = None) -> Fault:
        """Answer ``code`` without forwarding; ``body`` defaults to the REST error envelope."""
        if body is None:
            error_id = {429: "RATE_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 502: "INFRASTRUCTURE_ERROR",
                        503: "SERVICE_UNAVAILABLE", 402: "INSUFFICIENT_CREDITS"}.get(code, "HTTP_ERROR")
            body = {"status": False, "response": f"injected {code}",
                    "error": {"http_status": code, "message": f"injected {code}", "details": None,
                              "error_id": error_id}}
        return cls("reply", Reply.json(body, code, headers))

    @classmethod
    def rate_limited(cls, retry_after: str | float = "0") -> Fault:
        return cls.status(429, headers={"Retry-After": str(retry_after)})

    @classmethod
    def json(cls, body: Any, status: int = 200) -> Fault:
        """Answer this JSON (e.g. an HTTP-200 failed prediction, the ``{"status": false}`` quirk)."""
        return cls("reply", Reply.json(body, status))

    @classmethod
    def invalid_json(cls, status: int = 200) -> Fault:
        return cls("reply", Reply(status, b'{"id": "trunc', {"Content-Type": "application/json"}))

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection after reading the request, before it reaches any handler or upstream."""
        return cls("drop")

    @classmethod
    def reset(cls) -> Fault:
        """Like ``drop`` but with a TCP RST (SO_LINGER 0)."""
        return cls("reset")

    @classmethod
    def drop_after_handling(cls) -> Fault:
        """Handle (or forward) the request, then close without answering: it reached the server."""
        return cls("drop_after")

    @classmethod
    def truncate(cls, keep_bytes: int) -> Fault:
        """Handle the request, announce the full length, send only the first ``keep_bytes`` and close."""
        return cls("truncate", keep_bytes=keep_bytes)

    @classmethod
    def truncated_sse(cls, events: list[Any], *, declare_length: bool = False) -> Fault:
        """Send these SSE events without the end marker, then close the connection."""
        reply = Reply.sse(events, done=False)
        return cls("sse_cut", reply, keep_bytes=len(reply.body) + (100 if declare_length else 0))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait, then answer normally."""
        return cls("slow", seconds=seconds)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Answer normally, ``seconds`` after the request arrived: a service whose response time is ``seconds``,
        its own work included (``slow`` adds the wait on top of that work instead)."""
        return cls("latency", seconds=seconds)

    @classmethod
    def cut_stream(cls, after_events: int, *, reset: bool = False) -> Fault:
        """Forward to ``upstream`` as a live stream, relay its first ``after_events`` SSE events, then hang up
        (with a TCP RST when ``reset``): a stream of the real server cut mid-way."""
        return cls("stream_cut", keep_bytes=after_events, seconds=1.0 if reset else 0.0)


Handler = Callable[[Request], Reply]


class FaultServer:
    def __init__(self, upstream: str | None = None, *, host: str = "127.0.0.1", prefix: str = "/v1") -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.prefix = prefix
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._script: list[tuple[str, re.Pattern[str], Fault]] = []
        self._chaos: tuple[float, list[Fault], random.Random, str, re.Pattern[str]] | None = None
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.requests: list[Request] = []
        self.faults_sent: Counter[str] = Counter()
        self.forwarded: Counter[tuple[str, str]] = Counter()  # requests that reached ``upstream``
        self._forward = httpx.Client(timeout=120.0) if upstream else None
        self._httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)

    # ------------------------------------------------------------------ configuration
    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def route(self, method: str, path: str, handler: Handler) -> FaultServer:
        """Answer ``method path`` (a regex, matched in full) with ``handler(request) -> Reply``."""
        with self._lock:
            self._routes.append((method.upper(), re.compile(path), handler))
        return self

    def script(self, method: str, path: str, *faults: Fault) -> FaultServer:
        """Queue faults for the next requests to ``method path`` (regex), one per request, in order."""
        with self._lock:
            self._script.extend((method.upper(), re.compile(path), f) for f in faults)
        return self

    def chaos(self, rate: float, faults: list[Fault], *, seed: int = 0, method: str = "*", path: str = ".*") -> None:
        """Inject one of ``faults`` (uniformly) into a ``rate`` fraction of matching requests."""
        with self._lock:
            self._chaos = (rate, faults, random.Random(seed), method.upper(), re.compile(path))

    def count(self, method: str, path: str) -> int:
        """Requests seen for ``method path``; ``path`` is a regex matched in full (``.*`` for all)."""
        pattern = re.compile(path)
        with self._lock:
            return sum(n for (m, p), n in self.counts.items() if m == method.upper() and pattern.fullmatch(p))

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.requests.clear()
            self.faults_sent.clear()
            self.forwarded.clear()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._forward is not None:
            self._forward.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ handling
    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, (m, pattern, fault) in enumerate(self._script):
                if m in (method, "*") and pattern.fullmatch(path):
                    del self._script[i]
                    return fault
            if self._chaos is not None:
                rate, faults, rng, m, pattern = self._chaos
                if m in (method, "*") and pattern.fullmatch(path) and rng.random() < rate:
                    return rng.choice(faults)
        return None

    def _normal(self, req: Request) -> Reply:
        with self._lock:
            handler = next((h for m, p, h in self._routes if m == req.method and p.fullmatch(req.path)), None)
        if handler is not None:
            return handler(req)
        if self._forward is not None and self.upstream is not None:
            url, headers = self._upstream_request(req)
            with self._lock:
                self.forwarded[(req.method, req.path)] += 1
            try:
                upstream = self._forward.request(req.method, url, content=req.body, headers=headers)
            except httpx.HTTPError as exc:  # say what went wrong upstream instead of hanging up without a word
                return Reply.json({"status": False, "response": "Bad gateway",
                                   "error": {"http_status": 502, "error_id": "INFRASTRUCTURE_ERROR", "details": None,
                                             "message": f"fault proxy: upstream {type(exc).__name__}: {exc}"}}, 502)
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return Reply(upstream.status_code, upstream.content, out)
        return Reply.json({"status": False, "response": "Not Found",
                           "error": {"http_status": 404, "message": f"no route {req.method} {req.path}",
                                     "details": None, "error_id": "ENDPOINT_NOT_FOUND"}}, 404)

    def _upstream_request(self, req: Request) -> tuple[str, dict[str, str]]:
        assert self.upstream is not None
        target = urlsplit(self.upstream)
        query = "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
        url = f"{target.scheme}://{target.netloc}{req.path}" + (f"?{query}" if query else "")
        return url, {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle on, the body waits for the client's delayed
            # ACK of the headers, 40 ms on every answer
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                arrived = time.monotonic()
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                with server._lock:
                    server.counts[(req.method, req.path)] += 1
                    server.requests.append(req)
                fault = server._next_fault(req.method, req.path)
                if fault is not None:
                    with server._lock:
                        server.faults_sent[fault.kind] += 1
                if fault is None or fault.kind == "slow":
                    if fault is not None:
                        time.sleep(fault.seconds)
                    self._send(server._normal(req))
                elif fault.kind == "latency":
                    reply = server._normal(req)
                    time.sleep(max(0.0, fault.seconds - (time.monotonic() - arrived)))
                    self._send(reply)
                elif fault.kind == "reply":
                    self._send(fault.reply)
                elif fault.kind in ("drop", "reset"):
                    self._hang_up(reset=fault.kind == "reset")
                elif fault.kind == "drop_after":
                    server._normal(req)
                    self._hang_up()
                elif fault.kind == "truncate":
                    self._send(server._normal(req), keep=fault.keep_bytes)
                elif fault.kind == "sse_cut":
                    assert fault.reply is not None
                    self._send(fault.reply, declared=fault.keep_bytes)
                elif fault.kind == "stream_cut":
                    self._relay_cut(req, fault.keep_bytes or 0, reset=bool(fault.seconds))

            def _relay_cut(self, req: Request, events: int, *, reset: bool) -> None:
                if server._forward is None:
                    self._hang_up(reset=True)
                    return
                url, headers = server._upstream_request(req)
                with server._lock:
                    server.forwarded[(req.method, req.path)] += 1
                with server._forward.stream(req.method, url, content=req.body, headers=headers) as upstream:
                    self.send_response(upstream.status_code)
                    for key, value in upstream.headers.items():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Connection", "close")  # the body ends when the connection does
                    self.end_headers()
                    buffer, sent = b"", 0
                    for chunk in upstream.iter_bytes():
                        buffer += chunk
                        while sent < events and b"\n\n" in buffer:
                            event, buffer = buffer.split(b"\n\n", 1)
                            self.wfile.write(event + b"\n\n")
                            sent += 1
                        if sent >= events:
                            break
                    self.wfile.flush()
                self._hang_up(reset=reset)

            def _send(self, reply: Reply, *, keep: int | None = None, declared: int | None = None) -> None:
                body = reply.body
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                if keep is not None or declared is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if keep is None else body[:keep])
                self.wfile.flush()
                if keep is not None or declared is not None:
                    self._hang_up()

            def _hang_up(self, reset: bool = False) -> None:
                self.close_connection = True
                if reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        return _Handler
