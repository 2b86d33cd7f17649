"""The API's resource namespaces, shared by both clients.

Each method builds an operation (``_operations``) and hands it to the client's driver, so
``Skytells().predictions.get(id)`` returns a Prediction and ``AsyncSkytells().predictions.get(id)`` returns
an awaitable of one: the twins have the same method names by construction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from skytells_lab.api import _operations as ops
from skytells_lab.api._http import Call
from skytells_lab.api._inference_types import ChatCompletion, EmbeddingResponse, Response
from skytells_lab.api._media import coerce_messages, coerce_response_input
from skytells_lab.api._prediction_stream import AsyncPredictionStream, PredictionStream
from skytells_lab.api._sse import (
    AsyncChatStream,
    AsyncResponseStream,
    ChatDecoder,
    ChatStream,
    ResponseDecoder,
    ResponseStream,
)
from skytells_lab.api._types import Model, ModelPage, Prediction, PredictionPage


def _is_async(client: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(client._execute)


class _Resource:
    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class Models(_Resource):
    """``client.models``: the model catalog. On ``AsyncSkytells`` every method returns an awaitable of the
    type it names (``iter`` an async iterator)."""

    def list(self, type: str | None = None, fields: Any = None, page: int | None = None,
             per_page: int | None = None) -> list[Model] | ModelPage:
        """All models (``type="image"`` etc. filters); ``fields=["input_schema", "output_schema"]`` adds schemas.

        With ``page`` and/or ``per_page`` (<= 50, default 15), one :class:`ModelPage` (``.data``,
        ``.has_next``), as ``predictions.list`` pages."""
        return self._client._execute(ops.list_models(type, fields, page, per_page))

    def iter(self, type: str | None = None, fields: Any = None, *, per_page: int = 50) -> Iterator[Model]:
        """Every model across all pages (an async iterator on AsyncSkytells)."""
        def page_op(page: int):
            return ops.list_models(type, fields, page, per_page)

        return self._client._iterate_pages(page_op)

    def frame(self, type: str | None = None, *, schemas: bool = False):
        """The catalog as a pandas DataFrame (type, pricing, capabilities); awaitable on AsyncSkytells."""
        from skytells_lab.api import _frames as frames

        if _is_async(self._client):
            return frames.models_frame_async(self._client, type, schemas=schemas)
        return frames.models_frame(self._client, type, schemas=schemas)

    def get(self, slug: str, fields: Any = None) -> Model:
        """One model by slug (``/models/{slug}``, falling back to the SDKs' ``/model/{slug}``)."""
        return self._client._execute(ops.get_model(slug, fields))

    def identity(self, slug: str) -> dict[str, Any] | None:
        """What would answer ``slug`` here, for result-store keys: ``{"base_url", "backend_version", "model"}``
        (the catalog entry, with the weights' fingerprint on the local server), or None when the catalog
        does not answer. ``client.run`` and ``client.embed`` key their cache with it."""
        return self._client._execute(ops.model_identity(self._client, slug))


class Predictions(_Resource):
    """``client.predictions``: create, read, list, wait for, cancel and delete predictions.

    On ``AsyncSkytells`` every method returns an awaitable (``iter`` an async iterator)."""

    def create(self, model: str, input: dict | None = None, *, webhook: Any = None, stream: bool = False,
               await_: bool = False, compatibility_check: bool = True, **extra: Any) -> Prediction:
        """Start a prediction of ``model`` on ``input`` and return it (usually still ``pending``).

        Args:
            model: the model slug, e.g. ``client.default_image_model``. A model the catalog lists as served
                by the inference API only (chat or embeddings) is refused before anything is sent, naming
                the call to use (the TS SDK's ``compatibilityCheck``); the catalog entry is read once per
                client and kept 10 minutes.
            input: the model's inputs; media values (PIL images, arrays, paths, bytes) become data URIs.
            webhook: a URL, or ``{"url": ..., "events": [...]}``, to notify on status changes.
            stream: sent as ``"stream": true``; read progress with ``p.stream()`` (``urls["stream"]``).
            await_: sent as ``"await": true``: the server answers with the finished prediction (one round
                trip; the read may take up to 600 s). The service ignores it for video models: check
                ``p.is_terminal``.
            compatibility_check: False skips the catalog check (one GET per model per client).
            **extra: other body fields, sent as they are.

        A create is never blindly re-sent once it may have reached the server (no duplicate charge)."""
        return self._client._execute(
            ops.create_prediction(self._client, model, input, webhook=webhook, stream=stream, await_=await_,
                                  compatibility_check=compatibility_check, **extra)
        )

    def get(self, id: str) -> Prediction:
        """The prediction with this id, as the server has it now."""
        return self._client._execute(ops.get_prediction(self._client, id))

    def list(self, page: int = 1, per_page: int = 15, model: str | None = None, since: Any = None,
             until: Any = None, status: Any = None) -> PredictionPage:
        """One page (``per_page`` <= 50); ``since``/``until`` are dates, sent as ``from``/``to``."""
        return self._client._execute(
            ops.list_predictions(self._client, page, per_page, model, since, until, status)
        )

    def iter(self, *, per_page: int = 50, model: str | None = None, since: Any = None, until: Any = None,
             status: Any = None) -> Iterator[Prediction]:
        """Every prediction matching the filters, across all pages (an async iterator on AsyncSkytells)."""
        def page_op(page: int):
            return ops.list_predictions(self._client, page, per_page, model, since, until, status)

        return self._client._iterate_pages(page_op)

    def frame(self, *, model: str | None = None, since: Any = None, until: Any = None, status: Any = None,
              limit: int | None = None, per_page: int = 50):
        """Every matching prediction, all pages, as a pandas DataFrame; awaitable on AsyncSkytells."""
        from skytells_lab.api import _frames as frames

        fn = frames.predictions_frame_async if _is_async(self._client) else frames.predictions_frame
        return fn(self._client, model=model, since=since, until=until, status=status, limit=limit,
                  per_page=per_page)

    def cancel(self, id: str) -> Prediction:
        """Stop a running prediction; returns it (``canceled`` unless it had already finished)."""
        return self._client._execute(ops.cancel_prediction(self._client, id))

    def delete(self, id: str) -> None:
        """Delete a prediction and its stored outputs."""
        return self._client._execute(ops.delete_prediction(id))

    def stream(self, id_or_prediction: Prediction | str) -> PredictionStream:
        """The prediction's ``urls.stream`` as :class:`PredictionEvent` s (status, progress, log, output), ending
        at a terminal prediction: a PredictionStream, on AsyncSkytells an awaitable AsyncPredictionStream
        (``async for``). Best created with ``stream=True``; closing it early leaves the prediction running."""
        from skytells_lab.api._prediction_stream import PredictionDecoder, stream_call

        return self._client._open_stream(stream_call(self._client, id_or_prediction),
                                         lambda: PredictionDecoder(self._client), "prediction")

    def wait(self, id_or_prediction: Prediction | str, timeout: float | None = None, poll_interval: float = 0.5,
             *, on_update: Callable[[Prediction], Any] | None = None, cancel: Any = None) -> Prediction:
        """Poll until terminal (backing off from ``poll_interval`` to 5 s) and return the final Prediction.

        Args:
            timeout: seconds at most; then WaitTimeout carrying the id (the prediction goes on).
            on_update: called with each state fetched (progress bars, widgets).
            cancel: a ``threading.Event`` or a callable; once it is true the prediction is cancelled on the
                server and followed to its end (``canceled``, or ``succeeded`` if it finished first)."""
        return self._client._execute(ops.watch_prediction(self._client, id_or_prediction, timeout, poll_interval,
                                                          cancel), on_state=on_update)

    def watch(self, id_or_prediction: Prediction | str, timeout: float | None = None, poll_interval: float = 0.5,
              *, cancel: Any = None) -> Iterator[Prediction]:
        """Each state of the prediction as it is polled, ending with the terminal one (an async iterator on
        AsyncSkytells); ``timeout`` and ``cancel`` as in :meth:`wait`. Stopping early leaves it running."""
        return self._client._states(ops.watch_prediction(self._client, id_or_prediction, timeout, poll_interval,
                                                         cancel))


class ChatCompletions(_Resource):
    """``client.chat.completions``: OpenAI-compatible chat (``await`` it on ``AsyncSkytells``)."""

    def create(self, *, model: str | None = None, messages: list, stream: bool = False,
               **params: Any) -> ChatCompletion | ChatStream:
        """A ChatCompletion, or with ``stream=True`` a ChatStream of chunks (``.text``, ``.final()``)."""
        model = model or self._client.default_chat_model
        messages = coerce_messages(messages)
        if not stream:
            return self._client._execute(ops.chat_completion(model, messages, params))
        call = Call("POST", "/chat/completions", kind="chat.completions", inference=True, resend_safe=False,
                    model=model, stream=True, json={"model": model, "messages": messages, **params, "stream": True})
        return self._client._open_stream(call, ChatDecoder, "chat")


class Chat(_Resource):
    """``client.chat``: holds ``completions``."""

    @property
    def completions(self) -> ChatCompletions:
        """The chat completions resource (``client.chat.completions.create(...)``)."""
        return ChatCompletions(self._client)


class Responses(_Resource):
    """``client.responses``: the Responses API (``await`` it on ``AsyncSkytells``)."""

    def create(self, *, model: str | None = None, input: Any, stream: bool = False,
               **params: Any) -> Response | ResponseStream:
        """A Response, or with ``stream=True`` a ResponseStream of typed events (``.type``)."""
        model = model or self._client.default_chat_model
        input = coerce_response_input(input)
        if not stream:
            return self._client._execute(ops.response(model, input, params))
        call = Call("POST", "/responses", kind="responses", inference=True, resend_safe=False, model=model,
                    stream=True, json={"model": model, "input": input, **params, "stream": True})
        return self._client._open_stream(call, ResponseDecoder, "responses")


class Embeddings(_Resource):
    """``client.embeddings``: one embeddings request; ``client.embed`` batches many texts."""

    def create(self, *, model: str | None = None, input: Any, encoding_format: str = "base64",
               dimensions: int | None = None, **params: Any) -> EmbeddingResponse:
        """An EmbeddingResponse; ``.vectors`` is float32 (n, d) for float and base64 encodings alike.

        base64 is the default on the wire, as in the OpenAI SDK: about a third of the bytes of JSON floats, and
        decoded with one ``np.frombuffer``; the vectors are the same."""
        model = model or self._client.default_embedding_model
        return self._client._execute(ops.embeddings(model, input, encoding_format, dimensions, **params))


class Files(_Resource):
    """``client.files``: output files (awaitable on ``AsyncSkytells``)."""

    def get(self, url: str) -> bytes:
        """The bytes of an output file. A relative URL resolves against the API; up to 5 redirects to
        storage are followed, never from https to http, and the API key goes only to the API's own origin."""
        return self._client._execute(ops.fetch_file(url, self._client.base_url))


# --------------------------------------------------------------------------- the async facades
# The same resources at run time (each method hands its operation to the client's driver, which awaits it);
# these classes only tell editors and type checkers that on AsyncSkytells every method is awaitable.


class AsyncModels(Models):
    """``AsyncSkytells().models``: :class:`Models`, every method awaitable (``iter`` an async iterator)."""

    if TYPE_CHECKING:
        async def list(self, type: str | None = None, fields: Any = None, page: int | None = None,
                       per_page: int | None = None) -> list[Model] | ModelPage: ...
        def iter(self, type: str | None = None, fields: Any = None, *,  # type: ignore[override]
                 per_page: int = 50) -> AsyncIterator[Model]: ...
        async def get(self, slug: str, fields: Any = None) -> Model: ...
        async def identity(self, slug: str) -> dict[str, Any] | None: ...


class AsyncPredictions(Predictions):
    """``AsyncSkytells().predictions``: :class:`Predictions`, every method awaitable (``iter`` and ``watch``
    async iterators)."""

    if TYPE_CHECKING:
        async def create(self, model: str, input: dict | None = None, *, webhook: Any = None,
                         stream: bool = False, await_: bool = False, compatibility_check: bool = True,
                         **extra: Any) -> Prediction: ...
        async def get(self, id: str) -> Prediction: ...
        async def list(self, page: int = 1, per_page: int = 15, model: str | None = None, since: Any = None,
                       until: Any = None, status: Any = None) -> PredictionPage: ...
        def iter(self, *, per_page: int = 50, model: str | None = None, since: Any = None,  # type: ignore[override]
                 until: Any = None, status: Any = None) -> AsyncIterator[Prediction]: ...
        async def cancel(self, id: str) -> Prediction: ...
        async def delete(self, id: str) -> None: ...
        async def stream(self, id_or_prediction: Prediction | str) -> AsyncPredictionStream: ...
        async def wait(self, id_or_prediction: Prediction | str, timeout: float | None = None,
                       poll_interval: float = 0.5, *, on_update: Callable[[Prediction], Any] | None = None,
                       cancel: Any = None) -> Prediction: ...
        def watch(self, id_or_prediction: Prediction | str,  # type: ignore[override]
                  timeout: float | None = None, poll_interval: float = 0.5, *,
                  cancel: Any = None) -> AsyncIterator[Prediction]: ...


class AsyncChatCompletions(ChatCompletions):
    """``AsyncSkytells().chat.completions``: ``await create(...)``."""

    if TYPE_CHECKING:
        async def create(self, *, model: str | None = None, messages: list, stream: bool = False,
                         **params: Any) -> ChatCompletion | AsyncChatStream: ...


class AsyncChat(Chat):
    """``AsyncSkytells().chat``: holds the awaitable ``completions``."""

    @property
    def completions(self) -> AsyncChatCompletions:
        """The chat completions resource (``await client.chat.completions.create(...)``)."""
        return AsyncChatCompletions(self._client)


class AsyncResponses(Responses):
    """``AsyncSkytells().responses``: ``await create(...)``."""

    if TYPE_CHECKING:
        async def create(self, *, model: str | None = None, input: Any, stream: bool = False,
                         **params: Any) -> Response | AsyncResponseStream: ...


class AsyncEmbeddings(Embeddings):
    """``AsyncSkytells().embeddings``: ``await create(...)``."""

    if TYPE_CHECKING:
        async def create(self, *, model: str | None = None, input: Any, encoding_format: str = "base64",
                         dimensions: int | None = None, **params: Any) -> EmbeddingResponse: ...


class AsyncFiles(Files):
    """``AsyncSkytells().files``: ``await get(url)``."""

    if TYPE_CHECKING:
        async def get(self, url: str) -> bytes: ...
