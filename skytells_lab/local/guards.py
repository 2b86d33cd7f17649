"""Request guards: API-key auth, the rolling-window rate limit, body size and JSON depth limits, and the
browser guard (Host, Origin, Content-Type)."""

from __future__ import annotations

import collections
import hmac
import json
import logging
import math
import secrets
import sys
import threading
import time

from skytells_lab._media import is_loopback_host
from skytells_lab.local.errors import INFERENCE_PATHS, ApiError, bad_request
from skytells_lab.local.wire_values import renderable, shown, unrenderable_paths

log = logging.getLogger("skytells_lab.local")
RATELIMIT_HEADERS = ("limit-requests", "remaining-requests", "window", "limit-tokens-in", "remaining-tokens-in",
                     "limit-tokens-out", "remaining-tokens-out")


def presented_key(headers) -> str | None:
    """The key from `x-api-key`, else from `Authorization: Bearer`."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_key(expected: str | None, headers) -> None:
    if not expected:
        return
    given = presented_key(headers)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "UNAUTHORIZED",
                       "Invalid or missing API key, Please obtain a valid API key from the dashboard",
                       "Invalid API key" if given else "Missing API key (send x-api-key or Authorization: Bearer)",
                       response="Invalid API key")


class RateLimiter:
    """At most `limit` requests per rolling `window` seconds for the whole server (the service limits per account)."""

    def __init__(self, limit: int | None, window: float):
        self.limit, self.window = limit, window
        self._hits: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def hit(self) -> dict[str, str]:
        """Count one request; the x-skytells-ratelimit-* headers, or 429 RATE_LIMIT_EXCEEDED."""
        headers = dict.fromkeys((f"x-skytells-ratelimit-{h}" for h in RATELIMIT_HEADERS), "-")
        if not self.limit:
            return headers
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - self.window:
                self._hits.popleft()
            if len(self._hits) >= self.limit:
                retry = max(1, math.ceil(self._hits[0] + self.window - now))
                raise ApiError(429, "RATE_LIMIT_EXCEEDED",
                               f"Rate limit exceeded: {self.limit} requests per {self.window:g} s. "
                               f"Retry after {retry} s.", {"retry_after": retry, "limit": self.limit},
                               response="Too many requests", headers={"Retry-After": str(retry)})
            self._hits.append(now)
            remaining = self.limit - len(self._hits)
        headers.update({"x-skytells-ratelimit-limit-requests": str(self.limit),
                        "x-skytells-ratelimit-remaining-requests": str(remaining),
                        "x-skytells-ratelimit-window": f"{self.window:g}s"})
        return headers


def parse_json(raw: bytes, max_depth: int):
    """The JSON body, refusing malformed or too deeply nested documents with 400, and values no response
    could carry (NaN, Infinity, strings that are not valid Unicode) with 400 naming the field."""
    if not raw.strip():
        raise bad_request("The request body is empty; send a JSON object.", "body")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", "body") from None
    except ValueError:  # an integer past Python's digit limit (int_max_str_digits)
        raise bad_request(f"The request body holds an integer with more than {sys.get_int_max_str_digits()} "
                          "digits; send numbers of a sensible size.", "body") from None
    stack = [(value, 1)]
    clean = True
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(item, dict):
            clean = clean and all(k.isascii() for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif clean and (isinstance(item, float) or isinstance(item, str) and not item.isascii()):
            clean = renderable(item)
    if not clean:  # something to look at closer (non-ASCII keys too): name the first bad field
        bad = unrenderable_paths(value)
        if bad:
            path, reason = bad[0]
            raise bad_request(f"Invalid '{path}': {reason}. JSON numbers must be finite and strings valid "
                              "Unicode; send a real value.", path, "INVALID_PARAMETER")
    return value


def _too_deep(max_depth: int) -> ApiError:
    return bad_request(f"The JSON body is nested deeper than {max_depth} levels.", "body")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit:,} bytes.",
                    {"max_bytes": limit}, response="Payload too large")


class RequestContextMiddleware:
    """Pure ASGI: a request id for every request, bodies refused by Content-Length over `limit`, and the
    `x-request-id` / `x-skytells-ratelimit-*` headers added to responses (the latter on 2xx only)."""

    def __init__(self, app, limit: int, render):
        self.app, self.limit, self.render = app, limit, render

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        state["request_id"] = "req_" + secrets.token_hex(12)
        state["ratelimit"] = {}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self.render(too_large(self.limit), scope, send)

        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = {"x-request-id": state["request_id"]}
                if 200 <= message["status"] < 300:
                    extra.update(state.get("ratelimit") or {})
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k.encode(), v.encode()) for k, v in extra.items())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            # answered here, inside the server error middleware, so the connection stays usable
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            error_id = "INFERENCE_ERROR" if scope["path"].startswith(INFERENCE_PATHS) else "INTERNAL_ERROR"
            await self.render(ApiError(500, error_id, f"Internal error: {type(exc).__name__}: {exc}",
                                       response="Internal server error"), scope, send_with_headers)


def _host_name(host: str) -> str:
    """`127.0.0.1:8000` -> `127.0.0.1`, `[::1]:8000` -> `::1`, `Localhost.` -> `localhost`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class BrowserGuardMiddleware:
    """What Jupyter does for its key-less loopback server, so no web page open in the user's browser can
    drive this one: on a loopback bind, the `Host` header must name a loopback address, `localhost` or a
    configured name (a DNS-rebinding page sends its own name); and a browser request from another origin
    (its `Origin` header) is refused unless that origin is in `[server] allow_origins`. Python clients (the
    kernel, the SDKs) send no Origin and pass."""

    def __init__(self, app, *, check_host: bool, allowed_hosts, allow_origins, render):
        self.app, self.check_host, self.render = app, check_host, render
        self.allowed_hosts = {_host_name(h) for h in allowed_hosts}
        self.allow_origins = {o.strip().rstrip("/").lower() for o in allow_origins}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.check_host and host:
            name = _host_name(host)
            if not is_loopback_host(name) and name not in self.allowed_hosts:
                return await self.render(ApiError(
                    403, "HOST_NOT_ALLOWED",
                    f"Host {shown(host)!r} is not this server's address. This loopback server answers requests "
                    "for localhost and loopback addresses only (a guard against DNS rebinding); add the name "
                    "to [server] allowed_hosts in the server config to use it.",
                    {"host": shown(host)}, response="Host not allowed"), scope, send)
        origin = headers.get(b"origin")
        # output files are what notebooks embed as <img>/<video>: a page may show them, never read them (no CORS)
        embeddable = scope["method"] in ("GET", "HEAD") and scope["path"].startswith("/v1/files/")
        if origin is not None and not embeddable:
            origin = origin.decode("latin-1").strip().rstrip("/").lower()
            same = host and origin in (f"http://{host.lower()}", f"https://{host.lower()}")
            if not same and origin not in self.allow_origins and "*" not in self.allow_origins:
                return await self.render(ApiError(
                    403, "ORIGIN_NOT_ALLOWED",
                    f"Cross-origin browser requests from {shown(origin)!r} are refused: a web page must not "
                    "drive this server. To allow a web app, add its origin to [server] allow_origins in the "
                    "server config.", {"origin": shown(origin)}, response="Origin not allowed"), scope, send)
        return await self.app(scope, receive, send)


def require_json(headers) -> None:
    """415 unless the body is declared `application/json`: a browser form or a `text/plain` fetch (which needs
    no CORS preflight) must not reach the JSON parser."""
    kind = (headers.get("content-type") or "").partition(";")[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE",
                       f"The request body must be sent as Content-Type: application/json, not "
                       f"{shown(kind) or 'none'}.", {"content_type": shown(kind) or None},
                       response="Unsupported media type", param="content-type")


async def read_limited(request, limit: int) -> bytes:
    """The body, counted as it streams in (chunked uploads have no Content-Length to check up front)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
