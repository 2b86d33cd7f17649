"""What a Dask worker needs to call the API: a picklable client configuration and cluster-wide limits.

:class:`ClientConfig` is what travels in the task graph: the base URL and the client's options, never the
key. A worker takes the key from its own environment (``key_env``, default ``SKYTELLS_API_KEY``) or from
:func:`share_key`, a worker plugin that hands each worker the key once, outside any task, so it shows in
no task's repr, no dashboard page and no log record.

:class:`Limits` says how many requests may be in flight per worker process (a thread semaphore) and in the
whole cluster (a ``distributed.Semaphore``, whose leases the scheduler takes back from a worker that
dies). A 429 answer with ``Retry-After`` sets a "not before" time in a ``distributed.Variable`` that every
worker reads before it sends, so one worker's 429 slows every worker down. Both act in the HTTP transport
of the worker's client, under the client's own retries and budget, for the sync and the async client.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

__all__ = ["ClientConfig", "GatedTransport", "Limits", "share_key"]

_shared_keys: dict[str, str] = {}  # key_env -> key, filled on a worker by share_key's plugin
_gates: dict[str, Gate] = {}
_gates_lock = threading.Lock()


@dataclass(frozen=True)
class ClientConfig:
    """How a worker builds its client: everything but the key.

    Parameters
    ----------
    base_url : the API's URL as the workers reach it (a loopback URL means a server on each worker's host).
    key_env : the environment variable (or :func:`share_key` name) holding the key on the workers; a
        loopback URL needs none.
    timeout, max_retries, backoff_base, backoff_max, max_retry_after : the client's retry policy.
    resend_inference : re-send an embedding or chat call after a failure where it may have run (and been
        charged); off by default, as on the client (the reliability guide's retry policy).
    local : whether the backend is the embedded local server (default: judged from the URL).
    """

    base_url: str
    key_env: str = "SKYTELLS_API_KEY"
    timeout: float = 300.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    resend_inference: bool = False
    local: bool | None = None

    @classmethod
    def from_client(cls, client: Any, **changes: Any) -> ClientConfig:
        """The configuration of an existing client (its key is not taken: workers bring their own)."""
        retry = client._retry
        fields = {"base_url": client.base_url, "timeout": client.timeout, "max_retries": retry.max_retries,
                      "backoff_base": retry.backoff_base, "backoff_max": retry.backoff_max,
                      "max_retry_after": retry.max_retry_after, "resend_inference": retry.resend_inference,
                      "local": client._local}
        return cls(**{**fields, **changes})

    def key(self) -> str | None:
        """The key on this machine: what :func:`share_key` left here, else the environment variable."""
        return _shared_keys.get(self.key_env) or os.environ.get(self.key_env) or None

    def build(self, transport: Any = None):
        """A synchronous client for this configuration, made where it is called (on the worker)."""
        from skytells_lab._media import is_loopback_url
        from skytells_lab.api import Skytells
        from skytells_lab.api.errors import ConfigurationError

        key = self.key()
        if key is None and not is_loopback_url(self.base_url):
            raise ConfigurationError(
                f"no API key on this Dask worker for {self.base_url}: set {self.key_env} in the workers' "
                f"environment, or call skytells_lab.notebook.cluster_client.share_key(dask_client, key) once",
                error_id="MISSING_API_KEY")
        options = {k: v for k, v in asdict(self).items() if k not in ("base_url", "key_env")}
        return Skytells(key, self.base_url, transport=transport, **options)


class _KeyPlugin:
    """A worker plugin carrying the key to each worker (and to workers that join later)."""

    def __init__(self, key: str, key_env: str) -> None:
        self.name = f"skytells-key-{key_env}"
        self._key = key
        self._key_env = key_env

    def setup(self, worker: Any) -> None:
        _shared_keys[self._key_env] = self._key

    def teardown(self, worker: Any) -> None:
        _shared_keys.pop(self._key_env, None)

    def __repr__(self) -> str:
        return f"SkytellsKey({self._key_env}=***)"

    __str__ = __repr__


def share_key(dask_client: Any, key: str, key_env: str = "SKYTELLS_API_KEY") -> None:
    """Give every worker of ``dask_client``'s cluster the API key, for jobs whose config reads ``key_env``.

    The key travels once to each worker inside a plugin, not in any task; it is kept in the worker's
    memory only (not in its environment, which child processes would inherit).
    """
    if not isinstance(key, str) or not key.strip():
        raise ValueError("share_key needs the API key as a non-empty string")
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("SkytellsKeyPlugin", (_KeyPlugin, WorkerPlugin), {})(key.strip(), key_env)
    dask_client.register_plugin(plugin)


@dataclass(frozen=True)
class Limits:
    """Requests in flight: ``per_worker`` per worker process, ``cluster`` in the whole job (None: no
    cluster-wide bound). ``name`` names the job's Semaphore and "not before" Variable."""

    name: str
    per_worker: int = 4
    cluster: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.per_worker, int) or self.per_worker < 1:
            raise ValueError(f"per_worker must be an int >= 1, got {self.per_worker!r}")
        if self.cluster is not None and (not isinstance(self.cluster, int) or self.cluster < 1):
            raise ValueError(f"cluster (max_in_flight) must be None or an int >= 1, got {self.cluster!r}")

    @property
    def variable(self) -> str:
        return f"skytells-not-before-{self.name}"

    def start(self) -> None:
        """Reset the job's "not before" time; called by the driver when the job is computed."""
        try:
            from distributed import Variable, get_client

            Variable(self.variable, client=get_client()).set(0.0)
        except (ImportError, ValueError):  # no distributed client: the limits stay per process
            pass


def _in_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


class Gate:
    """This process's view of a job's limits: the local semaphore, the cluster's semaphore and pause."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.local = threading.BoundedSemaphore(limits.per_worker)
        self.cluster = None
        self.pause = None
        self.known_pause = 0.0
        if _in_worker():
            from distributed import Semaphore, Variable

            if limits.cluster is not None:
                self.cluster = Semaphore(max_leases=limits.cluster, name=f"skytells-in-flight-{limits.name}")
            self.pause = Variable(limits.variable)
            try:
                self.known_pause = float(self.pause.get(timeout=5))
            except (TimeoutError, asyncio.TimeoutError):  # the driver did not start it (no client there)
                self.pause.set(0.0)

    @classmethod
    def of(cls, limits: Limits) -> Gate:
        with _gates_lock:
            gate = _gates.get(limits.name)
            if gate is None or gate.limits != limits:
                gate = _gates[limits.name] = cls(limits)
            return gate

    def wait_turn(self) -> None:
        """Sleep until the cluster's "not before" time has passed."""
        while True:
            if self.pause is not None:
                self.known_pause = float(self.pause.get())
            wait = self.known_pause - time.time()
            if wait <= 0:
                return
            time.sleep(min(wait, 1.0))

    def enter(self) -> None:
        """Take a place (this worker's, then the cluster's), then wait out any pause: a place is taken
        while another worker's 429 is being answered, so the pause is read after it."""
        self.local.acquire()
        if self.cluster is not None:
            try:
                self.cluster.acquire()
            except BaseException:
                self.local.release()
                raise
        try:
            self.wait_turn()
        except BaseException:
            self.leave()
            raise

    def leave(self) -> None:
        if self.cluster is not None:
            self.cluster.release()
        self.local.release()

    def slow_down(self, seconds: float) -> None:
        """Tell every worker to send nothing for ``seconds`` from now."""
        until = time.time() + max(0.0, seconds)
        if until > self.known_pause:
            self.known_pause = until
            if self.pause is not None:
                self.pause.set(until)


def _retry_after(response: httpx.Response) -> float:
    from skytells_lab.api._http import parse_retry_after

    seconds = parse_retry_after(response.headers.get("retry-after"))
    return 1.0 if seconds is None else seconds


class GatedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An HTTP transport that takes a place under the job's limits for each request, and on a 429 tells
    the whole cluster to wait. Responses are read in full before the place is given back (the job's calls
    are not streams)."""

    def __init__(self, limits: Limits) -> None:
        from skytells_lab.api._client import _ssl_context

        self._limits = limits
        self._verify = _ssl_context()
        self._sync: httpx.HTTPTransport | None = None
        self._async: dict[Any, httpx.AsyncHTTPTransport] = {}  # one pool per event loop
        self._lock = threading.Lock()

    def _gate(self) -> Gate:
        return Gate.of(self._limits)

    def _note(self, gate: Gate, response: httpx.Response) -> None:
        if response.status_code == 429:
            gate.slow_down(_retry_after(response))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request (sync client) in a place under the job's limits."""
        with self._lock:
            if self._sync is None:
                self._sync = httpx.HTTPTransport(verify=self._verify)
        gate = self._gate()
        gate.enter()
        try:
            response = self._sync.handle_request(request)
            response.read()
        finally:
            gate.leave()
        self._note(gate, response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request (async client) in a place under the job's limits."""
        loop = asyncio.get_running_loop()
        with self._lock:
            inner = self._async.get(loop)
            if inner is None:
                inner = self._async[loop] = httpx.AsyncHTTPTransport(verify=self._verify)
        gate = self._gate()
        await asyncio.to_thread(gate.enter)
        try:
            response = await inner.handle_async_request(request)
            await response.aread()
        finally:
            gate.leave()
        self._note(gate, response)
        return response

    def close(self) -> None:
        """Close the sync connection pool."""
        with self._lock:
            sync, self._sync = self._sync, None
        if sync is not None:
            sync.close()

    async def aclose(self) -> None:
        """Close this event loop's connection pool."""
        with self._lock:
            inner = self._async.pop(asyncio.get_running_loop(), None)
        if inner is not None:
            await inner.aclose()

    def __repr__(self) -> str:
        return f"GatedTransport({self._limits!r})"
