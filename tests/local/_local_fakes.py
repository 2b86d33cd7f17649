"""Small runners for the server paths the real models cannot exercise on demand: a runner that fails
(500 / failed predictions) and one that echoes its media input (the bytes the model saw)."""

from __future__ import annotations

from typing import ClassVar

from skytells_lab.local.runners.base import EmbeddingRunner, OutputFile, PredictionRunner

_MEDIA_SCHEMA = {
    "type": "object", "title": "Input", "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "uri", "x-accept": ["image/png", "image/jpeg"], "x-max-bytes": 4096,
                  "x-order": 0},
        "extra": {"type": "array", "items": {"type": "string", "format": "uri"}, "x-order": 1},
    },
}


class EchoMediaRunner(PredictionRunner):
    """Returns the bytes of its `image` input (and of `extra` items) as its outputs."""

    slug, type, capabilities = "echo-media", "image", ["image-to-image"]
    pricing: ClassVar[dict] = {"amount": 0.5, "currency": "USD", "unit": "prediction"}

    def _load(self) -> None:
        pass

    def input_schema(self) -> dict:
        return _MEDIA_SCHEMA

    def predict(self, input: dict, ctx) -> list[OutputFile]:
        files = [input["image"], *input.get("extra", [])]
        ext = {"image/png": "png", "image/jpeg": "jpg"}
        return [OutputFile(f.data, f.mime, f"echo-{i}.{ext.get(f.mime, 'bin')}") for i, f in enumerate(files)]


class BrokenRunner(PredictionRunner):
    """Fails every prediction, like a model that errors out."""

    slug, type, capabilities = "broken-model", "image", ["text-to-image"]

    def _load(self) -> None:
        pass

    def input_schema(self) -> dict:
        return {"type": "object", "required": ["prompt"],
                "properties": {"prompt": {"type": "string", "x-order": 0}}}

    def predict(self, input: dict, ctx) -> list[OutputFile]:
        raise RuntimeError("Failed to generate image.")


class BrokenEmbedder(EmbeddingRunner):
    """An embedding model whose forward pass raises: the server must answer 500, not crash."""

    slug = "broken-embedder"
    dimensions = 8

    def _load(self) -> None:
        pass

    def embed(self, texts, dimensions=None):
        raise RuntimeError("CUDA error: device-side assert triggered")

    def count_tokens(self, texts) -> int:
        return len(texts)
