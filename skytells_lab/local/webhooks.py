"""Webhook dispatch: each transition POSTed to the prediction's webhook, signed, retried in the background."""

from __future__ import annotations

import collections
import hashlib
import heapq
import hmac
import ipaddress
import itertools
import json
import logging
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from skytells_lab._media import is_loopback_host
from skytells_lab.local.errors import validation_error
from skytells_lab.local.wire_values import renderable, sanitized

log = logging.getLogger("skytells_lab.local.webhooks")

EVENTS = ("prediction.started", "prediction.succeeded", "prediction.failed", "prediction.cancelled")
# the names older docs and the SDKs use for the same events
_EVENT_SYNONYMS = {"started": "prediction.started", "start": "prediction.started",
                   "processing": "prediction.started", "succeeded": "prediction.succeeded",
                   "completed": "prediction.succeeded", "output": "prediction.succeeded",
                   "failed": "prediction.failed", "cancelled": "prediction.cancelled",
                   "canceled": "prediction.cancelled", "prediction.completed": "prediction.succeeded",
                   "prediction.canceled": "prediction.cancelled"}


def sign(body: bytes, secret: str) -> str:
    """X-Skytells-Signature: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _target_addresses(host: str) -> list:
    """The IP addresses a webhook host stands for (resolved now); [] when it cannot be resolved."""
    try:
        return [ipaddress.ip_address(host.strip("[]").split("%")[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # unresolvable now: the delivery will fail and be retried like any unreachable receiver
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


# IPv6 forms that carry an IPv4 address to somewhere a gateway decides (NAT64, 6to4, Teredo, the deprecated
# IPv4-compatible ::a.b.c.d): which host they reach is not knowable here, so they count as private
_TRANSLATED = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32",
                                                   "::/96")]


def refusal(address, *, allow_private: bool = False, allow_loopback: bool = True) -> str | None:
    """Why a webhook must not go to `address` (an SSRF guard), or None when it may."""
    if getattr(address, "ipv4_mapped", None) is not None:
        address = address.ipv4_mapped
    if is_loopback_host(str(address)):
        return None if allow_loopback or allow_private else "a loopback address"
    if allow_private:
        return None
    if address.is_multicast:
        return "a multicast address"
    if address.version == 6 and any(address in net for net in _TRANSLATED):
        return "an IPv4 address in IPv6 form (NAT64, 6to4, Teredo or IPv4-compatible)"
    if not address.is_global:
        return "a private, link-local or reserved address"
    return None


def _refused(host: str, reason: str, allow_loopback: bool):
    if reason == "a loopback address" and not allow_loopback:
        return validation_error("webhook.url", f"{host} is a loopback address",
                                "This server is not bound to loopback; send a public receiver URL.")
    return validation_error("webhook.url", f"{host} is {reason}",
                            "Send a public receiver URL, or set [server] webhook_allow_private = true.")


def check_target(url: str, *, allow_private: bool = False, allow_loopback: bool = True) -> None:
    """Refuse a webhook URL whose host is a private, link-local or otherwise non-global address (SSRF),
    unless `allow_private`; loopback addresses only when `allow_loopback` (a loopback-bound server).
    Checked again at each delivery (`pinned_target`): a name may resolve elsewhere by then."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise validation_error("webhook.url", "the URL has no host", "Send the full URL of your receiver.")
    for address in _target_addresses(host):
        reason = refusal(address, allow_private=allow_private, allow_loopback=allow_loopback)
        if reason:
            raise _refused(host, reason, allow_loopback)


class TargetRefused(Exception):
    """The webhook's host resolves, at delivery, to an address the SSRF guard refuses."""


def pinned_target(url: str, *, allow_private: bool, allow_loopback: bool) -> tuple[str, dict, dict]:
    """(URL with the host replaced by its checked IP, headers, httpx extensions) for one delivery.

    The host is resolved once, every address it resolves to is checked, and the connection goes to the
    checked address: no second resolution a DNS-rebinding name could answer differently. `Host` and TLS
    SNI (so certificate checks) keep the name. Raises TargetRefused, or OSError when it does not resolve."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    addresses = _target_addresses(host)
    if not addresses:
        raise OSError(f"cannot resolve {host}")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private, allow_loopback=allow_loopback)
        if reason:
            raise TargetRefused(f"{host} resolves to {address}, {reason}")
    address = addresses[0]
    shown_ip = f"[{address}]" if address.version == 6 else str(address)
    netloc = shown_ip + (f":{parts.port}" if parts.port else "")
    headers = {"Host": parts.netloc.rpartition("@")[2]}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), headers, extensions


def normalize_webhook(value, *, allow_private: bool = False, allow_loopback: bool = True) -> dict:
    """`{url, events}` or a plain URL string -> `{url, events}` with events in the prediction.* names.

    The URL must be http(s); private and link-local targets are refused unless `allow_private`, loopback
    ones unless `allow_loopback` (see :func:`check_target`)."""
    if value is None:
        return {"url": None, "events": []}
    if isinstance(value, str):
        value = {"url": value, "events": []}
    if not isinstance(value, dict):
        raise validation_error("webhook", "expected an object {url, events} or a URL string",
                               'Send "webhook": {"url": "https://...", "events": ["prediction.succeeded"]}.')
    url = value.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise validation_error("webhook.url", "expected an http(s) URL", "Send the full URL of your receiver.")
    if url is not None:
        check_target(url, allow_private=allow_private, allow_loopback=allow_loopback)
    events = value.get("events") or []
    if not isinstance(events, list):
        raise validation_error("webhook.events", "expected a list of event names", f"Use names from {EVENTS}.")
    names = []
    for event in events:
        name = _EVENT_SYNONYMS.get(event, event)
        if name not in EVENTS:
            raise validation_error("webhook.events", f"unknown event {event!r}", f"Use names from {EVENTS}.")
        names.append(name)
    return {"url": url, "events": names}


@dataclass
class Delivery:
    url: str
    event: str
    body: bytes
    delivery_id: str
    lane: tuple[str, str] = ("", "")  # (url, prediction id): deliveries of one lane arrive in order
    attempt: int = 0


class WebhookDispatcher:
    """A scheduler thread hands due deliveries to a small pool; failures come back with backoff.

    The events of one prediction to one URL arrive in the order they happened: each waits in its lane
    until the one before it is delivered or dropped (retries included); other lanes go on meanwhile."""

    def __init__(self, secret: str, *, body_format: str = "envelope", max_attempts: int = 5,
                 backoff: float = 1.0, timeout: float = 10.0, allow_private: bool = False,
                 allow_loopback: bool = True):
        self.secret = secret
        self.allow_private, self.allow_loopback = allow_private, allow_loopback
        self.body_format = body_format
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._inflight = 0
        self._lanes: dict[tuple[str, str], collections.deque[Delivery]] = {}  # busy lanes -> waiting deliveries
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="skytells-lab-webhook")
        self._thread = threading.Thread(target=self._schedule, name="skytells-lab-webhooks", daemon=True)
        self._client = None

    def start(self) -> None:
        import httpx

        self._client = httpx.Client(timeout=self.timeout, trust_env=False)
        self._thread.start()

    def stop(self, grace: float = 2.0) -> None:
        """Deliver what is due within `grace` seconds, then stop."""
        deadline = time.monotonic() + grace
        with self._cond:
            while (self._inflight or any(d <= time.monotonic() for d, _, _ in self._heap)) \
                    and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(grace)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def emit(self, event: str, prediction: dict) -> None:
        """Queue `event` for the prediction's webhook, if it has one that subscribes to the event."""
        hook = prediction.get("webhook") or {}
        if not hook.get("url") or (hook.get("events") and event not in hook["events"]):
            return
        if self.body_format == "envelope":
            payload = {"type": event, "created_at": prediction.get("updated_at"), "data": prediction}
        else:
            payload = prediction
        if not renderable(payload):  # a row an older version stored: receivers get JSON, not NaN
            payload = sanitized(payload)
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(hook["url"], event, body, str(uuid.uuid4()), (hook["url"], str(prediction.get("id"))))
        with self._cond:
            if delivery.lane in self._lanes:  # an earlier event of this prediction is still on its way
                self._lanes[delivery.lane].append(delivery)
            else:
                self._lanes[delivery.lane] = collections.deque()
                self._due(delivery, time.monotonic())

    def _due(self, delivery: Delivery, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), delivery))
        self._cond.notify_all()

    def _schedule(self) -> None:
        with self._cond:
            while not self._stopping:
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, delivery = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._inflight += 1
                self._pool.submit(self._send, delivery)

    def _send(self, delivery: Delivery) -> None:
        delivery.attempt += 1
        headers = {"Content-Type": "application/json", "User-Agent": "skytells-lab-local",
                   "X-Skytells-Signature": sign(delivery.body, self.secret),
                   "X-Skytells-Event": delivery.event, "X-Skytells-Delivery": delivery.delivery_id,
                   "X-Skytells-Attempt": str(delivery.attempt)}
        refused = False
        try:
            url, host, extensions = pinned_target(delivery.url, allow_private=self.allow_private,
                                                  allow_loopback=self.allow_loopback)
            response = self._client.post(url, content=delivery.body, headers={**headers, **host},
                                         extensions=extensions)
            ok = 200 <= response.status_code < 300
        except TargetRefused as exc:  # not retried: the next resolution is the attacker's to answer too
            log.warning("webhook %s to %s refused at delivery: %s", delivery.event, delivery.url, exc)
            ok, refused = False, True
        except Exception as exc:  # noqa: BLE001 - any transport failure is retried like a non-2xx
            log.info("webhook %s to %s failed: %s", delivery.event, delivery.url, exc)
            ok = False
        with self._cond:
            self._inflight -= 1
            if not ok and not refused and delivery.attempt < self.max_attempts and not self._stopping:
                self._due(delivery, time.monotonic() + self.backoff * 2 ** (delivery.attempt - 1))
                return
            if not ok:
                log.warning("webhook %s to %s dropped after %d attempts", delivery.event, delivery.url,
                            delivery.attempt)
            waiting = self._lanes.get(delivery.lane)
            if waiting:
                self._due(waiting.popleft(), time.monotonic())
            else:
                self._lanes.pop(delivery.lane, None)
            self._cond.notify_all()
