"""``Skytells`` and ``AsyncSkytells``: the same API over ``httpx.Client`` and ``httpx.AsyncClient``.

Each twin only knows how to send one call (with the retry loop), sleep, and drive an operation; all the
rest is shared (``_http.BaseClient``, ``_operations``, ``_resources``).
"""

from __future__ import annotations

import asyncio
import functools
import io
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from skytells_lab.api import _operations as ops
from skytells_lab.api import errors as E
from skytells_lab.api._http import PERSISTENT, BaseClient, Call, Read, Send, _Persistent, send_call
from skytells_lab.api._prediction_stream import AsyncPredictionStream, PredictionStream
from skytells_lab.api._resources import (
    AsyncChat,
    AsyncEmbeddings,
    AsyncFiles,
    AsyncModels,
    AsyncPredictions,
    AsyncResponses,
    Chat,
    Embeddings,
    Files,
    Models,
    Predictions,
    Responses,
)
from skytells_lab.api._safety import Safety
from skytells_lab.api._sse import AsyncChatStream, AsyncResponseStream, ChatStream, ResponseStream
from skytells_lab.api._store import ResultStore
from skytells_lab.api._types import BackendStatus, Prediction

if TYPE_CHECKING:
    import numpy as np
    from typing_extensions import Self


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context per process: building it (loading CA certificates) is the slow part of a client."""
    return httpx.create_ssl_context()


def _single(step: Any) -> ops.Op:
    """An operation of one step (a Call or a Sleep), for drivers that run an operation a step at a time."""
    return (yield step)


_STREAMS = {"chat": (ChatStream, AsyncChatStream), "responses": (ResponseStream, AsyncResponseStream),
            "prediction": (PredictionStream, AsyncPredictionStream)}


class _Namespaces:
    @property
    def models(self) -> Models:
        """The model catalog: ``list``, ``get``, ``frame``."""
        return Models(self)

    @property
    def predictions(self) -> Predictions:
        """Predictions: ``create``, ``get``, ``list``, ``iter``, ``wait``, ``cancel``, ``delete``, ``frame``."""
        return Predictions(self)

    @property
    def chat(self) -> Chat:
        """Chat: ``chat.completions.create(...)``."""
        return Chat(self)

    @property
    def responses(self) -> Responses:
        """The Responses API: ``responses.create(...)``."""
        return Responses(self)

    @property
    def embeddings(self) -> Embeddings:
        """Embeddings: ``embeddings.create(...)``; ``embed(texts)`` batches many."""
        return Embeddings(self)

    @property
    def files(self) -> Files:
        """Output files: ``files.get(url)`` -> bytes."""
        return Files(self)

    @property
    def safety(self) -> Safety:
        """``client.safety``: content checks with the safety model, and reading filter results."""
        return Safety(self)


def _to_image(data: bytes) -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is a core dependency
        raise E.ConfigurationError("Prediction.images() needs Pillow: pip install pillow") from exc
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class Skytells(_Namespaces, BaseClient):
    """Synchronous client. ``Skytells(api_key=..., base_url=...)``; a context manager.

    Args:
        api_key: the key; else ``SKYTELLS_API_KEY`` from the environment (as ``OpenAI()`` reads its key).
        base_url: else ``SKYTELLS_BASE_URL``, else ``https://api.skytells.ai/v1``.
        timeout: seconds per request (a prediction's wait has its own ``timeout``).
        max_retries, backoff_base, backoff_max, max_retry_after, resend_inference: the retry policy
            (docs/guides/reliability.md).
        transport: an ``httpx.BaseTransport`` that replaces the network, e.g. ``httpx.MockTransport`` in tests.
        http_client: an ``httpx.Client`` of your own (not closed by ``close()``).
        headers: sent with every request.
        local: whether the backend is the embedded server (default: a loopback base URL is).
        store: the result store for ``run`` and ``embed`` (default: the persistent sqlite cache; None: none).
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 max_retries: int = 3, transport: Any = None, http_client: httpx.Client | None = None,
                 headers: dict[str, str] | None = None, backoff_base: float = 0.5, backoff_max: float = 8.0,
                 max_retry_after: float = 60.0, resend_inference: bool = False, local: bool | None = None,
                 store: ResultStore | None | _Persistent = PERSISTENT) -> None:
        super().__init__(api_key, base_url, timeout=timeout, max_retries=max_retries, transport=transport,
                         headers=headers, backoff_base=backoff_base, backoff_max=backoff_max,
                         max_retry_after=max_retry_after, resend_inference=resend_inference, local=local,
                         store=store)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout, verify=_ssl_context())

    # ------------------------------------------------------------------ driving operations
    def _execute(self, op: ops.Op, on_state: Callable[[Any], Any] | None = None) -> Any:
        """Run an operation to its result: the one driver of every call, with blocking I/O; each
        :class:`~skytells_lab.api._operations.State` it reaches goes to ``on_state``."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            if isinstance(step, ops.State):
                if on_state is not None:
                    on_state(step.prediction)
                continue
            try:
                if isinstance(step, Call):
                    value = self._execute(send_call(self, step))
                elif isinstance(step, Send):
                    value = self._http.send(step.request, stream=step.stream, follow_redirects=False)
                elif isinstance(step, Read):
                    try:
                        step.response.read()
                    finally:
                        step.response.close()
                else:
                    time.sleep(step.seconds)
            except (httpx.HTTPError, E.SkytellsError) as exc:
                error = exc

    def _request(self, call: Call) -> Any:
        return self._execute(send_call(self, call))

    def _states(self, op: ops.Op) -> Iterator[Any]:
        """Run ``op``, yielding the value of each :class:`~skytells_lab.api._operations.State` it reaches."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration:
                return
            value, error = None, None
            if isinstance(step, ops.State):
                yield step.prediction
                continue
            try:
                value = self._execute(_single(step))
            except E.SkytellsError as exc:
                error = exc

    def _iterate_pages(self, page_op: Callable[[int], ops.Op]):
        page = 1
        while True:
            result = self._execute(page_op(page))
            yield from result.data
            if not result.has_next or not result.data:
                return
            page += 1

    def _open_stream(self, call: Call, decoder_cls: type, kind: str):
        response = self._request(call)
        return _STREAMS[kind][0](self, call, response, decoder_cls())

    def _images(self, prediction: Any) -> list:
        return [_to_image(self._execute(ops.fetch_file(url, self.base_url))) for url in prediction.outputs]

    # ------------------------------------------------------------------ top-level helpers
    def run(self, model: str, input: dict | None = None, *, timeout: float | None = None, wait: str = "poll",
            poll_interval: float = 0.5, cache: bool | None = None, webhook: Any = None,
            compatibility_check: bool = True, **extra: Any) -> Prediction:
        """Create a prediction and wait for it; raise PredictionFailed (carrying it) unless it succeeded.

        ``wait``: ``"poll"`` (create, then poll with backoff from ``poll_interval``), ``"await"`` (one request
        with ``"await": true``, polled on if it comes back unfinished), ``"auto"`` (``await`` for image models,
        polling for the rest: the TS SDK's ``autoAwait``). A chat- or embeddings-only model is refused before
        sending, naming the right call (``compatibility_check=False`` skips the check). ``cache``: None (the
        default) answers a repeat of a seeded input from the result store, True any repeat, False never.
        ``extra`` are other body fields, sent as they are."""
        return self._execute(ops.run(self, model, input, timeout=timeout, wait=wait, poll_interval=poll_interval,
                                     cache=cache, webhook=webhook, compatibility_check=compatibility_check,
                                     **extra))

    def status(self) -> BackendStatus:
        """The backend's health: ``BackendStatus(reachable, version, local, device, ...)``; never raises."""
        return self._execute(ops.backend_status(self))

    def embed(self, texts: Iterable[str] | str, model: str | None = None, *, batch_size: int = 256,
              concurrency: int = 4, dimensions: int | None = None, progress: bool | None = None) -> np.ndarray:
        """float32 ndarray (n, d) in input order: batched, concurrent, paced by the rate-limit headers.

        Works in a notebook cell too: the batches run on a private event loop in a worker thread when this
        thread already runs one.
        """
        from skytells_lab.api._embed import embed_async, run_sync

        def job():
            return _with_async_twin(self, lambda twin: embed_async(
                twin, texts, model, batch_size=batch_size, concurrency=concurrency, dimensions=dimensions,
                progress=progress))

        return run_sync(job)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _with_async_twin(client: Skytells, job: Callable[[AsyncSkytells], Any]) -> Any:
    twin = AsyncSkytells._twin_of(client)
    try:
        return await job(twin)
    finally:
        await twin.close()


class AsyncSkytells(_Namespaces, BaseClient):
    """Asynchronous twin of :class:`Skytells`: the same methods, awaitable; async iterators for streams."""

    @property
    def models(self) -> AsyncModels:
        """The model catalog: ``list``, ``get``, ``frame`` (awaitable), ``iter`` (async)."""
        return AsyncModels(self)

    @property
    def predictions(self) -> AsyncPredictions:
        """Predictions, awaitable: ``create``, ``get``, ``list``, ``wait``, ``cancel``; ``iter``/``watch`` async."""
        return AsyncPredictions(self)

    @property
    def chat(self) -> AsyncChat:
        """Chat: ``await chat.completions.create(...)``."""
        return AsyncChat(self)

    @property
    def responses(self) -> AsyncResponses:
        """The Responses API: ``await responses.create(...)``."""
        return AsyncResponses(self)

    @property
    def embeddings(self) -> AsyncEmbeddings:
        """Embeddings: ``await embeddings.create(...)``; ``await embed(texts)`` batches many."""
        return AsyncEmbeddings(self)

    @property
    def files(self) -> AsyncFiles:
        """Output files: ``await files.get(url)`` -> bytes."""
        return AsyncFiles(self)

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 max_retries: int = 3, transport: Any = None, http_client: httpx.AsyncClient | None = None,
                 headers: dict[str, str] | None = None, backoff_base: float = 0.5, backoff_max: float = 8.0,
                 max_retry_after: float = 60.0, resend_inference: bool = False, local: bool | None = None,
                 store: ResultStore | None | _Persistent = PERSISTENT) -> None:
        super().__init__(api_key, base_url, timeout=timeout, max_retries=max_retries, transport=transport,
                         headers=headers, backoff_base=backoff_base, backoff_max=backoff_max,
                         max_retry_after=max_retry_after, resend_inference=resend_inference, local=local,
                         store=store)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout, verify=_ssl_context())

    @classmethod
    def _twin_of(cls, client: BaseClient) -> AsyncSkytells:
        """An async client with the same settings and shared observers/rate limits (for sync helpers)."""
        transport = client._transport if hasattr(client._transport, "handle_async_request") else None
        twin = cls(client._api_key.get() if client._api_key else "", client.base_url, timeout=client.timeout,
                   transport=transport, headers=client._headers, local=client._local, store=None)
        twin._retry = client._retry
        twin._state = client._state
        return twin

    async def _execute(self, op: ops.Op, on_state: Callable[[Any], Any] | None = None) -> Any:
        """Run an operation to its result: the one driver of every call, awaiting I/O; each
        :class:`~skytells_lab.api._operations.State` it reaches goes to ``on_state``."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            if isinstance(step, ops.State):
                if on_state is not None:
                    on_state(step.prediction)
                continue
            try:
                if isinstance(step, Call):
                    value = await self._execute(send_call(self, step))
                elif isinstance(step, Send):
                    value = await self._http.send(step.request, stream=step.stream, follow_redirects=False)
                elif isinstance(step, Read):
                    try:
                        await step.response.aread()
                    finally:
                        await step.response.aclose()
                else:
                    await asyncio.sleep(step.seconds)
            except (httpx.HTTPError, E.SkytellsError) as exc:
                error = exc

    async def _request(self, call: Call) -> Any:
        return await self._execute(send_call(self, call))

    async def _states(self, op: ops.Op) -> AsyncIterator[Any]:
        """Run ``op``, yielding the value of each :class:`~skytells_lab.api._operations.State` it reaches."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration:
                return
            value, error = None, None
            if isinstance(step, ops.State):
                yield step.prediction
                continue
            try:
                value = await self._execute(_single(step))
            except E.SkytellsError as exc:
                error = exc

    async def _iterate_pages(self, page_op: Callable[[int], ops.Op]):
        page = 1
        while True:
            result = await self._execute(page_op(page))
            for item in result.data:
                yield item
            if not result.has_next or not result.data:
                return
            page += 1

    async def _open_stream(self, call: Call, decoder_cls: type, kind: str):
        response = await self._request(call)
        return _STREAMS[kind][1](self, call, response, decoder_cls())

    async def _images(self, prediction: Any) -> list:
        return [_to_image(await self._execute(ops.fetch_file(url, self.base_url))) for url in prediction.outputs]

    async def run(self, model: str, input: dict | None = None, *, timeout: float | None = None, wait: str = "poll",
                  poll_interval: float = 0.5, cache: bool | None = None, webhook: Any = None,
                  compatibility_check: bool = True, **extra: Any) -> Prediction:
        """Create a prediction and wait for it; raise PredictionFailed (carrying it) unless it succeeded
        (the parameters of :meth:`Skytells.run`)."""
        return await self._execute(ops.run(self, model, input, timeout=timeout, wait=wait,
                                           poll_interval=poll_interval, cache=cache, webhook=webhook,
                                           compatibility_check=compatibility_check, **extra))

    async def status(self) -> BackendStatus:
        """The backend's health: ``BackendStatus(reachable, version, local, device, ...)``; never raises."""
        return await self._execute(ops.backend_status(self))

    async def embed(self, texts: Iterable[str] | str, model: str | None = None, *, batch_size: int = 256,
                    concurrency: int = 4, dimensions: int | None = None, progress: bool | None = None) -> np.ndarray:
        """float32 ndarray (n, d) in input order: batched, ``concurrency`` requests at a time."""
        from skytells_lab.api._embed import embed_async

        return await embed_async(self, texts, model, batch_size=batch_size, concurrency=concurrency,
                                 dimensions=dimensions, progress=progress)

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``); ``aclose`` is the same."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
