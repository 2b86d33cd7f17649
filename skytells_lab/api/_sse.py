"""Server-sent event streams of chat completions and responses, sync and async.

A decoder (one per stream kind, no I/O) turns each SSE into a typed item and knows when the stream is
complete; ``Stream``/``AsyncStream`` read events from the open httpx response through httpx-sse. A stream
that ends or breaks before its end marker raises :class:`StreamInterrupted` carrying what arrived.
"""

from __future__ import annotations

import json
import time
from typing import Any, Generic, TypeVar

import httpx
from httpx_sse import EventSource, SSEError

from skytells_lab.api import errors as E
from skytells_lab.api._errors import error_from_response
from skytells_lab.api._http import Call
from skytells_lab.api._inference_types import (
    ChatCompletion,
    ChatCompletionChunk,
    Response,
    ResponseEvent,
    accumulate_chunks,
)

T = TypeVar("T")

_RESPONSE_END = {"response.completed", "response.failed", "response.incomplete", "response.cancelled"}


class _Decoder(Generic[T]):
    done = False

    def feed(self, event: str, data: str) -> T | None:
        raise NotImplementedError

    @property
    def text(self) -> str:
        raise NotImplementedError

    def partial(self) -> dict[str, Any]:
        raise NotImplementedError

    def final(self) -> Any:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _load(data: str) -> dict[str, Any]:
        try:
            obj = json.loads(data)
        except ValueError:
            raise E.InvalidJSONError(f"stream event is not JSON: {data[:80]!r}", http_status=200) from None
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict) and "choices" not in obj:
            status = obj["error"].get("status") or obj["error"].get("http_status") or 500
            raise error_from_response(int(status), obj)
        if not isinstance(obj, dict):
            raise E.InvalidJSONError(f"stream event is not an object: {data[:80]!r}", http_status=200)
        return obj


class ChatDecoder(_Decoder[ChatCompletionChunk]):
    def __init__(self) -> None:
        self.chunks: list[ChatCompletionChunk] = []
        self._text: list[str] = []

    def feed(self, event: str, data: str) -> ChatCompletionChunk | None:
        if data.strip() == "[DONE]":
            self.done = True
            return None
        if not data.strip():
            return None
        chunk = ChatCompletionChunk.model_validate(self._load(data))
        self.chunks.append(chunk)
        self._text.append(chunk.text)
        return chunk

    @property
    def text(self) -> str:
        return "".join(self._text)

    def partial(self) -> dict[str, Any]:
        return {"text": self.text, "chunks": list(self.chunks)}

    def final(self) -> ChatCompletion:
        return accumulate_chunks(self.chunks)

    def summary(self) -> dict[str, Any]:
        usage = next((c.usage for c in reversed(self.chunks) if c.usage), None)
        model = self.chunks[0].model if self.chunks else None
        return {"model": model, "usage": usage.model_dump(exclude_none=True) if usage else {}}


class ResponseDecoder(_Decoder[ResponseEvent]):
    def __init__(self) -> None:
        self.events: list[ResponseEvent] = []
        self._text: list[str] = []
        self.response: Response | None = None

    def feed(self, event: str, data: str) -> ResponseEvent | None:
        if data.strip() == "[DONE]":
            self.done = self.done or self.response is not None
            return None
        if not data.strip():
            return None
        obj = self._load(data)
        obj.setdefault("type", event or "message")
        item = ResponseEvent.model_validate(obj)
        self.events.append(item)
        if item.type == "response.output_text.delta" and isinstance(item.delta, str):
            self._text.append(item.delta)
        if item.response is not None:
            self.response = item.response
        if item.type in _RESPONSE_END:
            self.done = True
        elif item.type == "error":
            raise error_from_response(500, {"error": obj.get("error") or obj})
        return item

    @property
    def text(self) -> str:
        return "".join(self._text)

    def partial(self) -> dict[str, Any]:
        return {"text": self.text, "events": list(self.events)}

    def final(self) -> Response:
        if self.response is None:
            raise E.StreamInterrupted("the response stream carried no response object", partial=self.partial())
        return self.response

    def summary(self) -> dict[str, Any]:
        if self.response is None:
            return {}
        usage = self.response.usage.model_dump(exclude_none=True) if self.response.usage else {}
        return {"model": self.response.model, "usage": usage}


def _interrupted(decoder: _Decoder, cause: BaseException | None) -> E.StreamInterrupted:
    why = f"{type(cause).__name__}: {cause}" if cause else "the server closed it without an end marker"
    return E.StreamInterrupted(
        f"stream cut after {len(decoder.text)} characters ({why})",
        partial=decoder.partial(),
    )


class _StreamBase(Generic[T]):
    def __init__(self, client: Any, call: Call, response: httpx.Response, decoder: _Decoder[T]) -> None:
        self._client = client
        self._call = call
        self._response = response
        self._decoder = decoder
        self._started = time.monotonic()
        self._error: E.SkytellsError | None = None
        self._observed = False

    @property
    def text(self) -> str:
        """Text accumulated so far."""
        return self._decoder.text

    @property
    def done(self) -> bool:
        """True once the stream's last event has arrived."""
        return self._decoder.done

    def _finish(self) -> None:
        if not self._observed:
            self._observed = True
            self._client._observe(self._call, self._started, result=self._decoder.summary(),
                                  error=self._error, http_status=self._response.status_code)

    def __repr__(self) -> str:
        state = "done" if self._decoder.done else "open"
        return f"{type(self).__name__}({self._call.model!r}, {state}, {len(self.text)} chars)"


class Stream(_StreamBase[T]):
    """Iterate to get items as they arrive; ``.text`` so far; ``.final()`` reads the rest and folds it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._iterator = self._iterate()

    def _iterate(self):
        try:
            for sse in EventSource(self._response).iter_sse():
                item = self._decoder.feed(sse.event, sse.data)
                if item is not None:
                    yield item
                if self._decoder.done:
                    return
        except (httpx.HTTPError, SSEError) as exc:
            self._error = _interrupted(self._decoder, exc)
            raise self._error from exc
        except E.SkytellsError as exc:
            self._error = exc
            raise
        finally:
            self._response.close()
            if self._decoder.done or self._error:
                self._finish()
        self._error = _interrupted(self._decoder, None)
        self._finish()
        raise self._error

    def __iter__(self):
        return self._iterator

    def __next__(self) -> T:
        return next(self._iterator)

    def final(self) -> Any:
        """Read the rest of the stream and return the whole result (a ChatCompletion or a Response)."""
        for _ in self._iterator:
            pass
        return self._decoder.final()

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._response.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream(_StreamBase[T]):
    """Async twin of :class:`Stream`: ``async for``, ``await stream.final()``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._iterator = self._iterate()

    async def _iterate(self):
        try:
            async for sse in EventSource(self._response).aiter_sse():
                item = self._decoder.feed(sse.event, sse.data)
                if item is not None:
                    yield item
                if self._decoder.done:
                    return
        except (httpx.HTTPError, SSEError) as exc:
            self._error = _interrupted(self._decoder, exc)
            raise self._error from exc
        except E.SkytellsError as exc:
            self._error = exc
            raise
        finally:
            await self._response.aclose()
            if self._decoder.done or self._error:
                self._finish()
        self._error = _interrupted(self._decoder, None)
        self._finish()
        raise self._error

    def __aiter__(self):
        return self._iterator

    async def __anext__(self) -> T:
        return await self._iterator.__anext__()

    async def final(self) -> Any:
        """Read the rest of the stream and return the whole result (a ChatCompletion or a Response)."""
        async for _ in self._iterator:
            pass
        return self._decoder.final()

    async def close(self) -> None:
        """Stop reading and release the connection; ``aclose`` is the same."""
        await self._response.aclose()

    aclose = close

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ChatStream(Stream[ChatCompletionChunk]):
    """``chat.completions.create(..., stream=True)``: iterate for ChatCompletionChunks; ``.final()``."""


class AsyncChatStream(AsyncStream[ChatCompletionChunk]):
    """The async ChatStream: ``async for chunk in stream``; ``await stream.final()``."""


class ResponseStream(Stream[ResponseEvent]):
    """``responses.create(..., stream=True)``: iterate for typed ResponseEvents; ``.final()``."""


class AsyncResponseStream(AsyncStream[ResponseEvent]):
    """The async ResponseStream: ``async for event in stream``; ``await stream.final()``."""
