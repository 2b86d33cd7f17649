"""A prediction's ``urls.stream`` as typed events: status changes, progress, logs and outputs, sync and async.

The local server (and the stream route the official SDKs name) sends ``event: prediction`` with the whole
prediction each time it changes, then ``event: done``. Each snapshot becomes one :class:`PredictionEvent`
whose ``type`` says what changed since the last one; the stream ends at a terminal prediction. A backend
that answers the stream URL with plain JSON (the SDKs' "stream metadata") gives one event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from skytells_lab.api import errors as E
from skytells_lab.api._http import Call
from skytells_lab.api._sse import AsyncStream, Stream, _Decoder
from skytells_lab.api._types import Prediction

EVENT_TYPES = ("status", "progress", "log", "output", "update", "done")


@dataclass
class PredictionEvent:
    """One change of a prediction: ``type`` is ``status`` (the first event, and each status change),
    ``progress`` (``metrics.progress`` moved), ``log`` (new ``logs`` text in ``log``), ``output`` (outputs
    appeared), ``update`` (anything else), or ``done``; ``prediction`` is the whole prediction then."""

    type: str
    prediction: Prediction | None = None
    log: str = ""
    event: str | None = None  # the SSE event name
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> Any:
        """The prediction's status at this event."""
        return self.prediction.status if self.prediction is not None else None

    @property
    def progress(self) -> float | None:
        """Percent done, when the backend reports it."""
        return self.prediction.metrics.progress if self.prediction is not None else None

    @property
    def outputs(self) -> list[str]:
        """The output URLs so far."""
        return list(self.prediction.outputs) if self.prediction is not None else []

    def _repr_html_(self) -> str | None:
        return self.prediction._repr_html_() if self.prediction is not None else None

    def __repr__(self) -> str:
        bits = [repr(self.type)]
        if self.prediction is not None:
            bits.append(f"status={str(self.prediction.status)!r}")
        if self.progress is not None:
            bits.append(f"progress={self.progress:g}")
        if self.outputs and self.type == "output":
            bits.append(f"outputs={len(self.outputs)}")
        if self.log:
            bits.append(f"log={self.log[-40:]!r}")
        return f"PredictionEvent({', '.join(bits)})"


def _logs(p: Prediction | None) -> str:
    logs = p.raw.get("logs") if p is not None else None
    return logs if isinstance(logs, str) else ""


def _kind(prev: Prediction | None, now: Prediction) -> str:
    if prev is None or prev.status != now.status:
        return "output" if now.outputs and (prev is None or not prev.outputs) and now.is_terminal else "status"
    if now.outputs and not prev.outputs:
        return "output"
    if now.metrics.progress != prev.metrics.progress:
        return "progress"
    if _logs(now) != _logs(prev):
        return "log"
    return "update"


class PredictionDecoder(_Decoder[PredictionEvent]):
    def __init__(self, client: Any) -> None:
        self._client = client
        self.last: Prediction | None = None
        self._ended = False

    @property
    def done(self) -> bool:
        return self._ended or (self.last is not None and self.last.is_terminal)

    def feed(self, event: str, data: str) -> PredictionEvent | None:
        if event == "done" or data.strip() == "[DONE]":
            self._ended = True
            return PredictionEvent("done", self.last, event=event)
        try:
            body = json.loads(data) if data.strip() else {}
        except ValueError:
            raise E.InvalidJSONError(f"prediction stream event is not JSON: {data[:80]!r}", http_status=200) from None
        if not isinstance(body, dict):
            return PredictionEvent("update", self.last, event=event, data={"value": body})
        if isinstance(body.get("data"), dict) and "id" not in body:
            body = body["data"]
        if body.get("id") is None:
            return PredictionEvent(event or "update", self.last, event=event, data=body)
        now = Prediction.model_validate(body)
        now._client = self._client
        kind = _kind(self.last, now)
        log = _logs(now)[len(_logs(self.last)):] if kind == "log" else ""
        self.last = now
        return PredictionEvent(kind, now, log=log, event=event, data=body)

    @property
    def text(self) -> str:
        return _logs(self.last)

    def partial(self) -> dict[str, Any]:
        return {"prediction": self.last}

    def final(self) -> Prediction | None:
        return self.last

    def summary(self) -> dict[str, Any]:
        return {}


def stream_call(client: Any, prediction: Any) -> Call:
    url = prediction.urls.get("stream") if isinstance(prediction, Prediction) else None
    pid = prediction.id if isinstance(prediction, Prediction) else str(prediction)
    from skytells_lab.api._operations import _seg

    # a stream stays quiet while nothing changes: the read waits as long as a prediction may run
    return Call("GET", url if isinstance(url, str) and url else f"/predictions/{_seg(pid)}/stream",
                kind="predictions.stream", stream=True, timeout=max(client.timeout or 0, 600.0))


def _is_sse(response: Any) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


class PredictionStream(Stream[PredictionEvent]):
    """Iterate a prediction's events as they arrive; ``.final()`` reads to the end and returns the last
    Prediction. Closing it early leaves the prediction running."""

    def _iterate(self):
        if _is_sse(self._response):
            yield from super()._iterate()
            return
        try:
            self._response.read()
            item = self._decoder.feed("prediction", self._response.text)
        finally:
            self._response.close()
        self._decoder._ended = True
        self._finish()
        if item is not None:
            yield item


class AsyncPredictionStream(AsyncStream[PredictionEvent]):
    """Async twin of :class:`PredictionStream`: ``async for event in stream``, ``await stream.final()``."""

    async def _iterate(self):
        if _is_sse(self._response):
            async for item in super()._iterate():
                yield item
            return
        try:
            await self._response.aread()
            item = self._decoder.feed("prediction", self._response.text)
        finally:
            await self._response.aclose()
        self._decoder._ended = True
        self._finish()
        if item is not None:
            yield item
