"""The request core shared by both clients: building requests, auth, retries, errors, and the seams.

Sync and async clients differ only in how they send, read and sleep (``_client.py``); every decision
(headers, what is retried and how long to wait, how a response becomes a result or an error) lives here
once, the retry loop included: :func:`send_call` is an operation like the endpoints in ``_operations``.

The seams (docs/architecture.md): before-call hooks (``add_hook``: called with the :class:`Call` about to be
sent; raising stops it, as the budget does), after-call observers (``add_observer``: called with a
:class:`CallRecord` after each call, as the ledger is), and the result store (``store=``, a
:class:`~skytells_lab.api._store.ResultStore`, read and written by ``run`` and ``embed``).

Retry rules (docs/guides/reliability.md, "Retry policy"): connection errors, timeouts, 408, 429 and 5xx are
retried with jittered exponential backoff, honoring ``Retry-After`` (seconds or an HTTP date) up to
``max_retry_after``; payment/credit errors and redirects never. A call marked ``resend_safe=False``
(prediction creation, chat, responses, embeddings: they run a model and are charged) is re-sent only when
the request certainly did not reach the server (connect errors) or the server said it ran nothing (429, or
503 with ``Retry-After``); any other failure is raised, saying it may have run. ``resend_inference=True``
re-sends chat/responses/embeddings after those ambiguous failures too, as the OpenAI SDK does.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from skytells_lab._media import is_loopback_url
from skytells_lab._version import __version__
from skytells_lab.api import errors as E
from skytells_lab.api._errors import NON_RETRYABLE_ERROR_IDS, error_from_response
from skytells_lab.api._ledger import Budget, Ledger
from skytells_lab.api._store import Cache, ResultStore
from skytells_lab.api._types import CallRecord

log = logging.getLogger("skytells_lab.api")

DEFAULT_BASE_URL = "https://api.skytells.ai/v1"
RATE_LIMIT_PREFIX = "x-skytells-ratelimit-"
# query parameters whose values are credentials more often than not (signed URLs, tokens, keys)
_SECRET_PARAM = re.compile(r"key|token|secret|sig|auth|pass|credential|session|signature", re.IGNORECASE)
MAX_SHOWN_URL = 300


class Secret:
    """Holds the API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self):  # pickling a client must not write the key either
        raise TypeError("an API key is not picklable")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    resend_inference: bool = False  # re-send chat/responses/embeddings after a failure where they may have run

    def __post_init__(self) -> None:
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0 (inf allowed), got {value!r}")
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {self.max_retries!r}")

    def backoff(self, attempt: int) -> float:
        """Full-jitter-ish exponential backoff: in [0.5, 1] x base x 2**attempt, capped."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling * (0.5 + random.random() / 2)


RETRY_AFTER_CEILING = 86400.0  # a Retry-After beyond a day (1e308, the year 9999) is read as a day
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?", re.ASCII)
_SMALL_INT = re.compile(r"[0-9]{1,18}", re.ASCII)
MAX_HEADER_SHOWN = 200  # a request id is shown in errors up to this length


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date -> seconds from now, in [0, RETRY_AFTER_CEILING].

    Judged by value, as a hostile or broken server may send anything: only plain ASCII digits (a decimal
    point allowed) or an HTTP date count; NaN, infinity, negative, exponent, non-ASCII or unparsable values
    are None (the header is ignored and the usual backoff applies); a value beyond a day is a day.
    """
    if not value or not isinstance(value, str) or not value.isascii() or len(value) > 10_000:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), RETRY_AFTER_CEILING)  # float() of a long digit string is inf, never an error
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else time.time()
    seconds = when.timestamp() - current
    return None if math.isnan(seconds) else min(max(0.0, seconds), RETRY_AFTER_CEILING)


def parse_rate_limits(headers: httpx.Headers) -> dict[str, Any]:
    """``x-skytells-ratelimit-remaining-requests: 12`` -> ``{"remaining_requests": 12}``; ``-`` -> None.

    Only plain ASCII digits (at most 18) become an int; anything else stays the string it was."""
    out: dict[str, Any] = {}
    for key, value in headers.items():
        key = key.lower()
        if key.startswith(RATE_LIMIT_PREFIX):
            value = value.strip()
            name = key[len(RATE_LIMIT_PREFIX):].replace("-", "_")
            out[name] = None if value in ("-", "") else int(value) if _SMALL_INT.fullmatch(value) else value[:100]
    return out


def redact_url(url: str, secret: str | None = None) -> str:
    """``url`` safe to show in an error: no ``user:password@``, credential-like query values as ``***``, no
    fragment, the API key nowhere, at most 300 characters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = []
    for pair in parts.query.split("&") if parts.query else []:
        name, eq, value = pair.partition("=")
        pairs.append(f"{name}={'***'}" if eq and value and _SECRET_PARAM.search(name) else pair)
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"
    if pairs:
        shown += "?" + "&".join(pairs)
    if secret:
        shown = shown.replace(secret, "***")
    return shown if len(shown) <= MAX_SHOWN_URL else shown[:MAX_SHOWN_URL] + "..."


@dataclass(frozen=True)
class Call:
    """One logical API call, before any retry."""

    method: str
    path: str  # relative to base_url, or an absolute URL (output files)
    kind: str
    params: dict[str, Any] | None = None
    json: Any = None
    model: str | None = None
    resend_safe: bool = True
    inference: bool = False  # also send Authorization: Bearer
    stream: bool = False
    expect: str = "json"  # "json" | "bytes"
    timeout: float | None = None
    max_retries: int | None = None  # caps the client's policy for this call (status probes use 0)


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Send:
    """Send one built request (``stream``: leave the body unread) and get the httpx response back."""

    request: httpx.Request
    stream: bool = False


@dataclass(frozen=True)
class Read:
    """Read a streamed response's body to the end, then close it."""

    response: httpx.Response


BeforeCall = Callable[[Call], None]
AfterCall = Callable[[CallRecord], None]


class _Persistent:
    """The default of ``store=``: the machine's persistent cache, made with the client."""

    def __repr__(self) -> str:
        return "<the persistent cache>"


PERSISTENT = _Persistent()


@dataclass
class SharedState:
    """What clones made by ``with_options`` and the embed helper's async twin share with their parent."""

    observers: list[AfterCall] = field(default_factory=list)
    hooks: list[BeforeCall] = field(default_factory=list)
    rate_limits: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    store: ResultStore | None = None
    ledger: Ledger = field(default_factory=Ledger)  # an observer of every call, the last MAX_CALLS kept
    budget: Budget | None = None
    # model slug -> (catalog entry with its input schema, expiry on the monotonic clock)
    catalog: dict[str, tuple[Any, float]] = field(default_factory=dict)


class BaseClient:
    """Configuration and every transport-independent step of a call."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        transport: Any = None,
        headers: dict[str, str] | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        resend_inference: bool = False,
        local: bool | None = None,
        store: ResultStore | None | _Persistent = PERSISTENT,
    ) -> None:
        if api_key is None:  # as OpenAI() reads OPENAI_API_KEY; "" means no key, whatever the environment says
            api_key = os.environ.get("SKYTELLS_API_KEY")
        self._api_key = Secret(api_key) if api_key else None
        self.base_url = (base_url or os.environ.get("SKYTELLS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self._retry = RetryPolicy(max_retries, backoff_base, backoff_max, max_retry_after, bool(resend_inference))
        self._transport = transport
        self._headers = dict(headers or {})
        self._local = local
        if store is not None and not isinstance(store, (_Persistent, ResultStore)):
            raise TypeError(f"store must be a ResultStore (enabled, get_many, set_many) or None, got "
                            f"{type(store).__name__}")
        self._state = SharedState(store=Cache() if isinstance(store, _Persistent) else store)
        self._owns_http = True
        self._origin = _origin(self.base_url)
        self.add_observer(self._state.ledger)

    # ------------------------------------------------------------------ configuration
    @property
    def max_retries(self) -> int:
        """How many times a failed call is retried (connection errors, timeouts, 408, 429, 5xx)."""
        return self._retry.max_retries

    @property
    def is_local(self) -> bool:
        """True when the base URL is a loopback address (the embedded server), unless set by ``local=``."""
        return self._local if self._local is not None else is_loopback_url(self.base_url)

    @property
    def rate_limits(self) -> dict[str, Any]:
        """The ``x-skytells-ratelimit-*`` headers of the last response (``remaining_requests`` etc.)."""
        return dict(self._state.rate_limits)

    @property
    def default_embedding_model(self) -> str:
        """The embedding model tutorials use: a local one on the embedded server, else the service's."""
        return "all-minilm-l6-v2" if self.is_local else "skytells-embed-3-small"

    @property
    def default_chat_model(self) -> str:
        """The chat model tutorials use: a local one on the embedded server, else the service's."""
        return "smollm2-135m-instruct" if self.is_local else "deepbrain-router"

    @property
    def safety_model(self) -> str:
        """The model ``client.safety`` checks with: the TS SDK's ``deepbrain-router`` on the service; on the local
        server its chat model, whose bundled classifier scores every prompt. Settable."""
        return getattr(self, "_safety_model", None) or ("smollm2-135m-instruct" if self.is_local
                                                         else "deepbrain-router")

    @safety_model.setter
    def safety_model(self, slug: str | None) -> None:
        self._safety_model = slug

    def purge_catalog_cache(self, model: str | None = None) -> None:
        """Forget the cached catalog entries (one model's, or all) that the compatibility check and media
        inputs read (the TS SDK's ``purgePrefetchedModelCache``)."""
        cache = self._state.catalog
        if model is None:
            cache.clear()
        else:
            cache.pop(model, None)

    @property
    def default_image_model(self) -> str:
        """The image model tutorials use: a local one on the embedded server, else the service's."""
        return "digits-diffusion" if self.is_local else "truefusion"

    # ------------------------------------------------------------------ the seams: store, observers, hooks
    @property
    def cache(self) -> ResultStore | None:
        """The result store ``run`` (seeded predictions) and ``embed`` read and write; by default the
        persistent :class:`~skytells_lab.api._store.Cache` (``.disable()``, ``.enable()``, ``.clear()``);
        None when the client was made with ``store=None``."""
        return self._state.store

    @property
    def ledger(self) -> Ledger:
        """Every call this client made (the last ``MAX_CALLS``): ``.frame()``, ``.summary()`` per model,
        ``.credits()``. An after-call observer, shared with ``with_options`` clones."""
        return self._state.ledger

    def budget(self, credits: float | None) -> Budget | None:
        """Refuse calls that would spend more than ``credits`` from now on (BudgetExceeded, nothing sent);
        ``budget(None)`` removes it; ``with client.budget(credits=...):`` limits a block. A before-call hook."""
        self._end_budget(self._state.budget)
        if credits is None:
            return None
        if _is_async_client(self):
            raise TypeError("set the budget on a synchronous client; it applies to its async twins as well")
        budget = Budget(credits, ledger=self.ledger, pricing_of=lambda slug: self.models.get(slug).pricing)
        budget._release = lambda: self._end_budget(budget)
        self.add_hook(budget)
        self._state.budget = budget
        return budget

    def _end_budget(self, budget: Budget | None) -> None:
        if budget is not None and self._state.budget is budget:
            self.remove_hook(budget)
            self._state.budget = None

    def add_hook(self, fn: BeforeCall) -> BeforeCall:
        """Call ``fn(call)`` before every request is sent (:class:`Call`: ``kind``, ``model``, ``json``, ...);
        an exception it raises stops the call, nothing sent. Returns ``fn`` (usable as a decorator)."""
        with self._state.lock:
            self._state.hooks.append(fn)
        return fn

    def remove_hook(self, fn: BeforeCall) -> None:
        """Stop calling ``fn`` before requests (nothing happens if it was not registered)."""
        with self._state.lock:
            if fn in self._state.hooks:
                self._state.hooks.remove(fn)

    def add_observer(self, fn: AfterCall) -> AfterCall:
        """Call ``fn(CallRecord)`` after every API call; returns ``fn`` (usable as a decorator)."""
        with self._state.lock:
            self._state.observers.append(fn)
        return fn

    def remove_observer(self, fn: AfterCall) -> None:
        """Stop calling ``fn`` after API calls (nothing happens if it was not registered)."""
        with self._state.lock:
            if fn in self._state.observers:
                self._state.observers.remove(fn)

    def _before_call(self, call: Call) -> None:
        for hook in list(self._state.hooks):
            hook(call)

    def with_options(self, *, max_retries: int | None = None, timeout: float | None = None, **retry: Any):
        """A client sharing this one's connection pool and observers, with other retry/timeout settings.

        ``client.with_options(max_retries=0).predictions.get(id)`` configures a single call;
        ``retry`` takes ``backoff_base``, ``backoff_max``, ``max_retry_after`` and ``resend_inference``.
        """
        unknown = set(retry) - {"backoff_base", "backoff_max", "max_retry_after", "resend_inference"}
        if unknown:
            raise TypeError(f"with_options() got unknown option(s) {sorted(unknown)}; it takes max_retries, "
                            "timeout, backoff_base, backoff_max, max_retry_after and resend_inference")
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        changes = dict(retry)
        if max_retries is not None:
            changes["max_retries"] = max_retries
        clone._retry = replace(self._retry, **changes)
        if timeout is not None:
            clone.timeout = timeout
        clone._owns_http = False
        return clone

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key}, local={self.is_local})"

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} holds an open connection pool and a key; create a new one")

    # ------------------------------------------------------------------ requests
    def _build_request(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        absolute = _is_absolute(call.path)
        url = call.path if absolute else self.base_url + call.path
        headers = {
            "Accept": "text/event-stream" if call.stream else "application/json",
            "User-Agent": f"skytells-lab/{__version__}",
            **self._headers,
        }
        # the key goes only to the API's own origin, never to a CDN holding output files
        if self._api_key is not None and (not absolute or _origin(url) == self._origin):
            headers["x-api-key"] = self._api_key.get()
            if call.inference:
                headers["Authorization"] = f"Bearer {self._api_key.get()}"
        params = {k: v for k, v in (call.params or {}).items() if v is not None}
        timeout = self.timeout if call.timeout is None else call.timeout
        try:
            return http.build_request(call.method, url, params=params or None, json=call.json, headers=headers,
                                      timeout=timeout)
        except httpx.InvalidURL as exc:  # e.g. an output file URL from the server that is no URL
            raise E.InvalidInputError(f"{call.method} {redact_url(url)}: not a valid URL ({exc})",
                                      error_id="INVALID_URL") from None

    def _handle_response(self, call: Call, response: httpx.Response) -> Any:
        """Response (already read) -> parsed body, or raise the mapped error."""
        self._record_rate_limits(response)
        request_id = _request_id(response)
        if 300 <= response.status_code < 400:
            raise self._redirect_error(call, response)
        if response.status_code >= 400 or response.status_code < 200:
            raise error_from_response(
                response.status_code,
                _json_or_text(response.content),
                request_id=request_id,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                secret=self._api_key.get() if self._api_key else None,
            )
        if call.expect == "bytes":
            return response.content
        if not response.content.strip():
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            snippet = response.content[:80].decode("utf-8", "replace")
            raise E.InvalidJSONError(
                f"{call.method} {call.path} answered HTTP {response.status_code} with a body that is not JSON: "
                f"{snippet!r}",
                http_status=response.status_code,
                request_id=request_id,
            ) from None

    def _redirect_error(self, call: Call, response: httpx.Response) -> E.RedirectError:
        """A 3xx is never data: name the status and where it pointed (redacted); its body is not read as JSON."""
        secret = self._api_key.get() if self._api_key else None
        raw = response.headers.get("location")
        target: str | None = None
        if raw:
            try:
                target = str(response.request.url.join(raw.strip()))
            except (httpx.InvalidURL, ValueError, TypeError):
                target = None
        shown = redact_url(target or raw, secret) if (target or raw) else None
        where = f"{call.method} {redact_url(_display_url(self.base_url, call.path), secret)}"
        reason = response.reason_phrase or "Redirect"
        message = f"{where} answered HTTP {response.status_code} {reason}"
        message += f" to {shown}" if shown else " without a Location"
        message += "; the client does not follow redirects, so the API key never travels to another address"
        suggestion = _moved_base_url(target, call.path) if target and not _is_absolute(call.path) else None
        if suggestion:
            message += f". If the API has moved, use base_url={redact_url(suggestion, secret)!r}"
        err = E.RedirectError(message, location=shown, http_status=response.status_code,
                              request_id=_request_id(response), details={"location": shown})
        # where to go, for a caller that may follow it itself (output files); never a URL holding the key
        err._target = target if target and not (secret and secret in target) else None
        return err

    def _record_rate_limits(self, response: httpx.Response) -> None:
        rate = parse_rate_limits(response.headers)
        with self._state.lock:
            self._state.rate_limits = rate

    def _to_error(self, exc: BaseException, call: Call) -> E.SkytellsError:
        if isinstance(exc, E.SkytellsError):
            return exc
        where = f"{call.method} {redact_url(_display_url(self.base_url, call.path))}"
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            err: E.SkytellsError
            if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
                err = E.APITimeoutError(f"timed out connecting for {where} (nothing was sent)")
            else:
                err = E.NetworkError(f"could not connect for {where}: {exc} (nothing was sent)")
            err._not_sent = True  # the request certainly did not reach the server
            return err
        if isinstance(exc, httpx.TimeoutException):
            return E.APITimeoutError(f"{where} timed out ({type(exc).__name__})")
        if isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc).lower():
            # httpx reads a 3xx's Location even when not following it, and refuses one that is no URL
            return E.RedirectError(f"{where} answered a redirect whose Location is not a valid URL; the client "
                                   "does not follow redirects", error_id="UNEXPECTED_REDIRECT")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return E.NetworkError(f"{where}: the connection broke before a complete answer arrived "
                                  f"({type(exc).__name__}: {exc})")
        return E.NetworkError(f"{where} failed: {type(exc).__name__}: {exc}")

    def _retry_delay(self, call: Call, err: E.SkytellsError, attempt: int, policy: RetryPolicy) -> float | None:
        """Seconds to wait before the next attempt, or None to raise ``err``."""
        if attempt >= policy.max_retries or (call.max_retries is not None and attempt >= call.max_retries):
            return None
        if isinstance(err, (E.PaymentRequiredError, E.RedirectError)) or err.error_id in NON_RETRYABLE_ERROR_IDS:
            return None
        not_sent = getattr(err, "_not_sent", False)
        if not _resendable(call, policy) and not not_sent and not ran_nothing(err):
            return None
        if err.retry_after is not None and (isinstance(err, E.RateLimitError) or err.http_status == 503):
            return err.retry_after if err.retry_after <= policy.max_retry_after else None
        if not_sent or isinstance(err, (E.RateLimitError, E.NetworkError, E.InvalidJSONError)):
            return policy.backoff(attempt)
        if isinstance(err, (E.ServerError, E.APITimeoutError)) or err.http_status == 408:
            return policy.backoff(attempt)
        return None

    def _annotate_unsent(self, call: Call, err: E.SkytellsError) -> E.SkytellsError:
        """A run-and-charge call that failed after it may have run: say so (it was not re-sent)."""
        if _resendable(call, self._retry) or not may_have_run(err):
            return err
        details = err.details if isinstance(err.details, dict) else ({} if err.details is None else
                                                                     {"details": err.details})
        if call.kind == "predictions.create":
            err.details = {**details, "may_have_been_created": True}
            err.message += (" (the request may have reached the server, so it was not re-sent; "
                            "look for the prediction with client.predictions.list() before retrying)")
        else:
            err.details = {**details, "may_have_run": True}
            err.message += (" (the request may have reached the server and run, so it was not re-sent: a repeat "
                            "could run and be charged twice; retry it yourself, or let the client do it with "
                            "with_options(resend_inference=True))")
        err.args = (err.message,)
        return err

    def _observe(self, call: Call, started: float, *, result: Any = None, error: E.SkytellsError | None = None,
                 http_status: int | None = None, request_id: str | None = None) -> None:
        observers = list(self._state.observers)
        if not observers:
            return
        record = _call_record(call, time.monotonic() - started, result, error, http_status, request_id)
        for fn in observers:
            try:
                fn(record)
            except Exception:  # an observer must never break the call it watches
                log.exception("observer %r failed", fn)


def send_call(client: BaseClient, call: Call) -> Generator[Any, Any, Any]:
    """One call with its retries, as an operation: yields :class:`Send`, :class:`Read` and :class:`Sleep`
    (the driver answers with the response, or throws the httpx error in) and returns the parsed body, or the
    open response of a stream. The hooks run first; the observers see the call's end."""
    client._before_call(call)
    started = time.monotonic()
    attempt = 0
    while True:
        response = None
        try:
            # never follow a redirect, even on a user's client made with follow_redirects=True: httpx keeps
            # x-api-key on a redirect to another origin; a 3xx becomes a RedirectError instead
            response = yield Send(client._build_request(client._http, call), call.stream)
            if call.stream and 200 <= response.status_code < 300:
                client._record_rate_limits(response)
                return response
            if call.stream:
                yield Read(response)
            result = client._handle_response(call, response)
        except (httpx.HTTPError, E.SkytellsError) as exc:
            err = client._to_error(exc, call)
            delay = client._retry_delay(call, err, attempt, client._retry)
            if delay is None:
                err = client._annotate_unsent(call, err)
                client._observe(call, started, error=err)
                raise err from (None if err is exc else exc)
            yield Sleep(delay)
            attempt += 1
            continue
        if not call.stream:
            client._observe(call, started, result=result, http_status=response.status_code,
                            request_id=_request_id(response))
        return result


def _is_async_client(client: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(getattr(type(client), "_execute", None))


def ran_nothing(err: E.SkytellsError) -> bool:
    """The server answered that it ran nothing and asked to come back: 429, or 503 with ``Retry-After``."""
    if err.http_status == 429:
        return isinstance(err, E.RateLimitError)
    return err.http_status == 503 and err.retry_after is not None


def may_have_run(err: E.SkytellsError) -> bool:
    """False when the request certainly did not run: never connected, or a definite 3xx/4xx answer (the
    server refused it), or ``ran_nothing``; True for a 5xx, a dropped connection, a read timeout, a 2xx
    whose body could not be read."""
    if getattr(err, "_not_sent", False) or ran_nothing(err) or isinstance(err, E.RedirectError):
        return False
    status = err.http_status
    return not (status is not None and 300 <= status < 500)


def _resendable(call: Call, policy: RetryPolicy) -> bool:
    return call.resend_safe or (call.inference and policy.resend_inference)


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # an out-of-range port or a broken host (a hostile output URL): matches no origin
        return ("", "", None)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _is_absolute(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _display_url(base: str, path: str) -> str:
    return path if _is_absolute(path) else base + path


def _moved_base_url(target: str, path: str) -> str | None:
    """``https://new/v1`` when ``target`` is ``https://new/v1/models?x`` for the path ``/models``."""
    stem = target.split("?", 1)[0].split("#", 1)[0]
    if path and stem.endswith(path) and len(stem) > len(path):
        return stem[: -len(path)]
    return None


def _json_or_text(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _request_id(response: httpx.Response) -> str | None:
    for key in ("x-request-id", "request-id", "x-skytells-request-id"):
        if key in response.headers:
            return response.headers[key][:MAX_HEADER_SHOWN]
    return None


def _call_record(call: Call, latency: float, result: Any, error: E.SkytellsError | None, http_status: int | None,
                 request_id: str | None) -> CallRecord:
    body = result if isinstance(result, dict) else {}
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
    billing = (body.get("metadata") or {}).get("billing") if isinstance(body.get("metadata"), dict) else None
    status: Any = http_status
    if error is not None:
        status = error.http_status or error.error_id
    elif "status" in body and call.kind.startswith("predictions"):
        status = str(body["status"])
    model = call.model
    if model is None and isinstance(body.get("model"), (str, dict)):
        model = body["model"] if isinstance(body["model"], str) else body["model"].get("name")
    return CallRecord(
        kind=call.kind,
        model=model,
        latency_s=latency,
        status=status,
        predict_time=metrics.get("predict_time"),
        prompt_tokens=usage.get("prompt_tokens", usage.get("input_tokens")),
        completion_tokens=usage.get("completion_tokens", usage.get("output_tokens")),
        credits_used=(billing or {}).get("credits_used") if isinstance(billing, dict) else None,
        request_id=(error.request_id if error else None) or request_id or body.get("request_id"),
        ok=error is None,
        prediction_id=str(body["id"]) if call.kind.startswith("predictions") and body.get("id") else None,
    )
