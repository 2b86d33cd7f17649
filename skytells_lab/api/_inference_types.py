"""Typed inference results: chat completions and chunks, responses and their events, embeddings.

The Skytells safety fields (``content_filter_results``, ``prompt_filter_results``, ``content_filters``) are
declared; every other field is kept through ``extra="allow"``.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field

from skytells_lab.api._types import _Wire


class Usage(_Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def tokens_in(self) -> int | None:
        return self.prompt_tokens if self.prompt_tokens is not None else self.input_tokens

    @property
    def tokens_out(self) -> int | None:
        return self.completion_tokens if self.completion_tokens is not None else self.output_tokens


# --------------------------------------------------------------------------- chat


class ChatMessage(_Wire):
    role: str = "assistant"
    content: Any = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(_Wire):
    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None
    content_filter_results: dict[str, Any] | None = None


class ChatCompletion(_Wire):
    id: str = ""
    object: str = "chat.completion"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    prompt_filter_results: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The first choice's message content ('' when there is none)."""
        if not self.choices:
            return ""
        content = self.choices[0].message.content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content or ""

    def to_records(self) -> list[dict[str, Any]]:
        """One row per choice: text, finish_reason, usage and flattened safety (what ``.frame()`` holds)."""
        from skytells_lab.api._records import chat_rows

        return chat_rows(self)

    def frame(self):
        """One row per choice: text, finish_reason, usage and flattened safety columns (pandas)."""
        from skytells_lab.api._frames import chat_frame

        return chat_frame(self)

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import chat_html

        return chat_html(self)

    def __repr__(self) -> str:
        finish = self.choices[0].finish_reason if self.choices else None
        tokens = f", tokens={self.usage.total_tokens}" if self.usage and self.usage.total_tokens else ""
        return f"ChatCompletion({self.model!r}, {_clip(self.text)!r}, finish={finish!r}{tokens})"

    __str__ = __repr__


class ChatDelta(_Wire):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChunkChoice(_Wire):
    index: int = 0
    delta: ChatDelta = Field(default_factory=ChatDelta)
    finish_reason: str | None = None
    content_filter_results: dict[str, Any] | None = None


class ChatCompletionChunk(_Wire):
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    prompt_filter_results: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        return "".join(c.delta.content or "" for c in self.choices if c.index == 0)

    def __repr__(self) -> str:
        return f"ChatCompletionChunk({self.text!r})"


def accumulate_chunks(chunks: list[ChatCompletionChunk]) -> ChatCompletion:
    """Fold streamed chunks into the ChatCompletion the non-streaming call would have returned."""
    choices: dict[int, dict[str, Any]] = {}
    first = chunks[0] if chunks else ChatCompletionChunk()
    usage = None
    prompt_filters = None
    for chunk in chunks:
        usage = chunk.usage or usage
        prompt_filters = chunk.prompt_filter_results or prompt_filters
        for c in chunk.choices:
            acc = choices.setdefault(c.index, {"index": c.index, "message": {"role": "assistant", "content": ""}})
            if c.delta.role:
                acc["message"]["role"] = c.delta.role
            acc["message"]["content"] += c.delta.content or ""
            if c.delta.tool_calls:
                acc["message"].setdefault("tool_calls", []).extend(c.delta.tool_calls)
            if c.finish_reason:
                acc["finish_reason"] = c.finish_reason
            if c.content_filter_results:
                acc["content_filter_results"] = c.content_filter_results
    return ChatCompletion(
        id=first.id,
        created=first.created,
        model=first.model,
        system_fingerprint=first.system_fingerprint,
        choices=[choices[i] for i in sorted(choices)],
        usage=usage.model_dump(exclude_none=True) if usage else None,
        prompt_filter_results=prompt_filters,
    )


# --------------------------------------------------------------------------- responses


class Response(_Wire):
    id: str = ""
    object: str = "response"
    created_at: int | float | None = None
    status: str | None = None
    model: str | None = None
    output: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage | None = None
    error: Any = None
    content_filters: list[dict[str, Any]] | None = None

    @property
    def output_text(self) -> str:
        parts = []
        for item in self.output:
            for content in item.get("content") or []:
                if isinstance(content, dict) and content.get("type") in ("output_text", "text"):
                    parts.append(content.get("text") or "")
        return "".join(parts)

    text = output_text

    def to_records(self) -> list[dict[str, Any]]:
        """One row per output item: text, status, usage and flattened safety (what ``.frame()`` holds)."""
        from skytells_lab.api._records import response_rows

        return response_rows(self)

    def frame(self):
        """One row per output item: text, status, usage and flattened safety columns (pandas)."""
        from skytells_lab.api._frames import responses_frame

        return responses_frame(self)

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import response_html

        return response_html(self)

    def __repr__(self) -> str:
        return f"Response({self.model!r}, {_clip(self.output_text)!r}, status={self.status!r})"

    __str__ = __repr__


class ResponseEvent(_Wire):
    type: str
    sequence_number: int | None = None
    delta: Any = None
    response: Response | None = None

    def __repr__(self) -> str:
        tail = f", {self.delta!r}" if isinstance(self.delta, str) else ""
        return f"ResponseEvent({self.type!r}{tail})"


# --------------------------------------------------------------------------- embeddings


class Embedding(_Wire):
    object: str = "embedding"
    index: int = 0
    embedding: Any = None  # a row of EmbeddingResponse.vectors (numpy), never a list of floats per vector


class EmbeddingResponse(_Wire):
    object: str = "list"
    model: str | None = None
    data: list[Embedding] = Field(default_factory=list)
    usage: Usage | None = None
    vectors: Any = Field(default=None, repr=False)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> EmbeddingResponse:
        """Decode straight into one float32 (n, d) array; base64 items go through np.frombuffer."""
        import numpy as np

        items = sorted(body.get("data") or [], key=lambda d: d.get("index", 0))
        rows = [item.get("embedding") for item in items]
        if rows and isinstance(rows[0], str):
            buf = bytearray(b"".join(base64.b64decode(r) for r in rows))  # writable result
            vectors = np.frombuffer(buf, dtype="<f4").astype(np.float32, copy=False).reshape(len(rows), -1)
        elif rows:
            vectors = np.asarray(rows, dtype=np.float32)
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        # raw given: pydantic would otherwise inspect the default factory's signature once per row
        data = [Embedding.model_construct(object="embedding", index=int(item.get("index", i)), embedding=vectors[i],
                                          raw={}) for i, item in enumerate(items)]
        usage = body.get("usage")
        return cls.model_construct(
            object=body.get("object", "list"),
            model=body.get("model"),
            data=data,
            usage=Usage.model_validate(usage) if isinstance(usage, dict) else None,
            vectors=vectors,
            raw={k: v for k, v in body.items() if k != "data"},
        )

    def frame(self, texts: Any):
        """The embedded ``texts`` as a DataFrame, the vectors kept as one float32 matrix (``df.skytells.vectors()``)."""
        from skytells_lab.api._frames import embeddings_frame

        return embeddings_frame(texts, self)

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import embedding_html

        return embedding_html(self)

    def __repr__(self) -> str:
        shape = getattr(self.vectors, "shape", None)
        return f"EmbeddingResponse({self.model!r}, shape={shape})"

    __str__ = __repr__


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
