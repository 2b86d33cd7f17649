"""Embedding requests served by forward passes planned by a token budget, as text-embeddings-inference does.

Two threads per model: a tokenizer thread turns each request's texts into token ids as it arrives, and a
model thread runs the forward passes. Tokenizing the next request so overlaps with the model's work on the
current one, and the HTTP threads only wait for their vectors (the JSON and base64 work stays theirs).

The model thread takes every text tokenized so far (from all waiting requests, up to ``max_round_tokens``),
sorts them by length and cuts the sorted run into forward passes of at most ``max_batch_tokens`` padded
tokens (longest length in the pass times the texts in it) and ``max_batch_size`` texts. Sorting a whole
round, not one request, cuts padding; the token budget keeps a pass of long texts from growing past what fits
in memory while a pass of short texts takes many more of them.

A text's vector does not depend on what it was batched with: padded positions are masked out of attention
and pooling, so only the float rounding of differently shaped matrix products differs (cosine >= 0.99999,
see tests/runners/test_embed_batching.py).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MAX_BATCH_TOKENS = 16384  # TEI's default max_batch_tokens
DEFAULT_MAX_BATCH_SIZE = 512
# On a CPU small passes win: MiniLM on 2 cores ran the same texts ~30 % faster in passes of 16 texts than of
# 64 (torch and ONNX alike: attention's cost grows with the pass and the caches stop holding it).
CPU_MAX_BATCH_TOKENS = 4096
CPU_MAX_BATCH_SIZE = 16


def batch_limits(device: str, max_batch_tokens: int | None = None,
                 max_batch_size: int | None = None) -> tuple[int, int]:
    """(max_batch_tokens, max_batch_size) for a device: what was asked for, else that device's default."""
    cpu = str(device).startswith("cpu")
    return (max_batch_tokens or (CPU_MAX_BATCH_TOKENS if cpu else DEFAULT_MAX_BATCH_TOKENS),
            max_batch_size or (CPU_MAX_BATCH_SIZE if cpu else DEFAULT_MAX_BATCH_SIZE))


def plan_batches(lengths: Sequence[int], max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE) -> list[list[int]]:
    """Indices into ``lengths`` grouped into forward passes: longest texts first, each pass holding at most
    ``max_batch_size`` texts and ``max_batch_tokens`` padded tokens (its longest length times its size).

    A single text longer than the budget gets a pass of its own. Equal lengths keep their input order.
    """
    if max_batch_tokens < 1 or max_batch_size < 1:
        raise ValueError(f"max_batch_tokens and max_batch_size must be at least 1, got {max_batch_tokens} "
                         f"and {max_batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -int(lengths[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max(int(lengths[current[0]]) if current else int(lengths[i]), 1)  # sorted: the first is widest
        if current and (len(current) >= max_batch_size or width * (len(current) + 1) > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@dataclass
class Encoded:
    """One text's tokens: ids, and token type ids where the model takes them."""

    ids: list[int]
    type_ids: list[int] | None = None


@dataclass(eq=False)  # compared and hashed by identity
class _Request:
    texts: list[str]
    tokens: list[Encoded] | None = None
    vectors: Any = None
    remaining: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def token_count(self) -> int:
        return sum(len(e.ids) for e in self.tokens or ())


class EmbeddingBatcher:
    """``batcher.embed(texts)`` -> (vectors, tokens read), from any number of threads at once.

    ``tokenize(texts)`` returns one :class:`Encoded` per text (special tokens in, cut at the model's
    length); ``forward(input_ids, attention_mask, token_type_ids)`` takes padded int64 arrays and returns
    the float32 vectors, one row per text. Both run on this batcher's own threads only, one call at a time,
    so neither needs to be thread-safe. ``on_batch(size, padded_tokens, real_tokens)`` is told each pass.
    """

    def __init__(self, tokenize: Callable[[list[str]], list[Encoded]], forward: Callable[..., np.ndarray], *,
                 pad_id: int = 0, max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, max_round_tokens: int | None = None,
                 on_batch: Callable[[int, int, int], None] | None = None, name: str = "embeddings"):
        if max_batch_tokens < 1 or max_batch_size < 1:
            raise ValueError(f"max_batch_tokens and max_batch_size must be at least 1, got {max_batch_tokens} "
                             f"and {max_batch_size}")
        self._tokenize, self._forward, self.pad_id = tokenize, forward, int(pad_id)
        self.max_batch_tokens, self.max_batch_size = int(max_batch_tokens), int(max_batch_size)
        # a round bounds how long a request that arrives during it waits for its first pass
        self.max_round_tokens = int(max_round_tokens or 8 * self.max_batch_tokens)
        self.on_batch = on_batch
        self._name = name
        self._inbox: collections.deque[_Request] = collections.deque()
        self._ready: collections.deque[tuple[_Request, int]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []

    def _start(self) -> None:
        if self._threads:
            return
        for target, role in ((self._tokenizer_loop, "tokenizer"), (self._model_loop, "model")):
            thread = threading.Thread(target=target, name=f"skytells-lab-{self._name}-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def embed(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """The vectors of ``texts`` in order, and the number of tokens the model read for them."""
        request = _Request(list(texts))
        with self._cond:
            if self._closed:
                raise RuntimeError("the embedding batcher is closed")
            self._start()
            self._inbox.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.vectors, request.token_count

    def waiting(self) -> dict[str, int]:
        """Texts waiting: ``tokenized`` ones for a forward pass, ``untokenized`` ones for the tokenizer."""
        with self._cond:
            return {"tokenized": len(self._ready), "untokenized": sum(len(r.texts) for r in self._inbox)}

    def close(self, timeout: float = 10.0) -> None:
        """Stop both threads once the requests already queued are answered."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # the tokenizer thread -------------------------------------------------------------------------

    def _tokenizer_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._inbox or self._closed)
                if not self._inbox:
                    return
                request = self._inbox.popleft()
            try:
                request.tokens = self._tokenize(request.texts)
                if len(request.tokens) != len(request.texts):
                    raise RuntimeError(f"the tokenizer returned {len(request.tokens)} encodings for "
                                       f"{len(request.texts)} texts")
            except BaseException as exc:  # noqa: BLE001 - the request that sent the text hears of it
                request.error = exc
                request.done.set()
                continue
            request.remaining = len(request.texts)
            with self._cond:
                self._ready.extend((request, i) for i in range(len(request.texts)))
                self._cond.notify_all()

    # the model thread -----------------------------------------------------------------------------

    def _take_round(self) -> list[tuple[_Request, int]] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._ready or (self._closed and not self._inbox))
            if not self._ready:
                return None
            taken, tokens = [], 0
            while self._ready and (not taken or tokens < self.max_round_tokens):
                request, i = self._ready.popleft()
                taken.append((request, i))
                tokens += len(request.tokens[i].ids)
            return taken

    def _model_loop(self) -> None:
        while (items := self._take_round()) is not None:
            lengths = [len(request.tokens[i].ids) for request, i in items]
            for batch in plan_batches(lengths, self.max_batch_tokens, self.max_batch_size):
                self._serve([items[j] for j in batch])

    def _serve(self, members: list[tuple[_Request, int]]) -> None:
        """One pass; when it fails and holds texts of several requests, each request's texts run alone, so
        the error reaches only the request that caused it."""
        import numpy as np

        members = [(request, i) for request, i in members if request.error is None]
        if not members:
            return
        try:
            vectors = self._run(members)
        except BaseException as exc:  # noqa: BLE001 - handed to the requests, the thread keeps serving
            requests = list(dict.fromkeys(request for request, _ in members))
            if len(requests) > 1:
                for request in requests:
                    self._serve([m for m in members if m[0] is request])
                return
            requests[0].error = exc
            requests[0].done.set()
            return
        for row, (request, i) in enumerate(members):
            if request.vectors is None:
                request.vectors = np.empty((len(request.texts), vectors.shape[1]), np.float32)
            request.vectors[i] = vectors[row]
            request.remaining -= 1
            if request.remaining == 0:
                request.done.set()

    def _run(self, members: list[tuple[_Request, int]]) -> np.ndarray:
        import numpy as np

        encoded = [request.tokens[i] for request, i in members]
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(encoded), width), self.pad_id, np.int64)
        mask = np.zeros((len(encoded), width), np.int64)
        types = np.zeros((len(encoded), width), np.int64)
        real = 0
        for row, e in enumerate(encoded):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            if e.type_ids is not None:
                types[row, :n] = e.type_ids
            real += n
        vectors = np.asarray(self._forward(ids, mask, types), dtype=np.float32)
        if self.on_batch is not None:
            self.on_batch(len(encoded), ids.size, real)
        return vectors
