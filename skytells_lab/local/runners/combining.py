"""Serve calls from many threads with one model pass each time: the calls that arrive while one pass runs
are served together by the next."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


class _Call:
    __slots__ = ("done", "error", "items", "result")

    def __init__(self, items: Sequence):
        self.items, self.result, self.error, self.done = items, None, None, False


class Combiner:
    """``combiner(items)`` returns ``fn(items)``, with ``fn`` (one result per item, in order) run one call at a
    time; calls made while it runs wait and are then served by a single ``fn`` over all their items.

    Concurrent small requests (one text each, say) so cost one batched model pass between them instead of
    one pass each, and a lone call waits for nothing: there is no batching window. A pass takes waiting calls
    only while they add up to at most ``max_items``: big calls gain nothing from sharing a pass and run alone,
    so the server answers one while it computes the next. An error in a combined pass is narrowed down by
    serving each call alone, so it reaches only the call that caused it.
    """

    def __init__(self, fn: Callable[[list], Any], max_items: int | None = None):
        self._fn = fn
        self._max_items = max_items
        self._run = threading.Lock()
        self._queue = threading.Lock()
        self._waiting: list[_Call] = []

    def __call__(self, items: Sequence) -> Any:
        call = _Call(items)
        with self._queue:
            self._waiting.append(call)
        with self._run:
            if not call.done:
                self._serve(self._take(call))
        if call.error is not None:
            raise call.error
        return call.result

    def _take(self, own: _Call) -> list[_Call]:
        """The caller's own call, then waiting ones in arrival order while they fit under max_items."""
        with self._queue:
            batch, size, rest = [own], len(own.items), []
            for call in self._waiting:
                if call is own:
                    continue
                if self._max_items is None or size + len(call.items) <= self._max_items:
                    batch.append(call)
                    size += len(call.items)
                else:
                    rest.append(call)
            self._waiting = rest
        return batch

    def _serve(self, batch: list[_Call]) -> None:
        try:
            results = self._fn([item for call in batch for item in call.items])
        except Exception as exc:  # noqa: BLE001 - whatever fn raises belongs to the call that caused it
            if len(batch) > 1:
                for call in batch:
                    self._serve([call])
                return
            batch[0].error = exc
        except BaseException as exc:  # an interrupt: every waiting call learns of it, none hangs
            for call in batch:
                call.error, call.done = exc, True
            raise
        else:
            start = 0
            for call in batch:
                call.result = results[start:start + len(call.items)]
                start += len(call.items)
        for call in batch:
            call.done = True
