"""Fixtures for the analysis tests: small matrices, well-separated blobs, and a stand-in client."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def blobs():
    """(vectors, true labels): 4 tight, well-separated clusters of 60 points in 16 dimensions."""
    rng = np.random.default_rng(1)
    centers = np.linalg.qr(rng.standard_normal((16, 16)))[0][:4] * 5
    labels = np.repeat(np.arange(4), 60)
    vectors = centers[labels] + rng.standard_normal((len(labels), 16)) * 0.3
    return vectors.astype(np.float32), labels


class _Completions:
    def __init__(self, owner):
        self.owner = owner

    def create(self, *, model, messages, **params):
        self.owner.chat_calls.append({"model": model, "messages": messages, **params})
        words = messages[-1]["content"].split("Keywords: ", 1)[1].split("\n")[0].split(", ")
        return {"choices": [{"message": {"role": "assistant", "content": f'"{words[0].title()} News"\n'}}]}


class FakeClient:
    """What the analysis code uses of the client contract: embed() and chat.completions.create().

    Embeddings are deterministic bags of hashed words, so texts sharing words are similar."""

    default_embedding_model = "fake-embed"
    default_chat_model = "fake-chat"

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.embed_calls = []
        self.chat_calls = []
        self.chat = type("Chat", (), {})()
        self.chat.completions = _Completions(self)

    def embed(self, texts, model=None, *, batch_size=256, concurrency=4, dimensions=None, progress=None):
        self.embed_calls.append({"texts": list(texts), "model": model, "batch_size": batch_size})
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in str(text).lower().split():
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


@pytest.fixture
def fake_client():
    return FakeClient()
