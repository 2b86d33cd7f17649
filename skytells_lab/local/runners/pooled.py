"""Sentence-transformers models of the common shape (Transformer, Pooling, optionally Normalize) through
transformers alone.

Importing ``sentence_transformers`` loads scikit-learn and pandas (its ``util`` module does, whatever the
model): about 150 MiB more peak memory in the server than transformers alone, for code it never runs: on Binder,
where the whole session must fit in 1-2 GB, that decides whether it fits. A model folder written by
sentence-transformers whose ``modules.json`` holds a Transformer, a Pooling module (mean, CLS or max) and
optionally a Normalize module is loaded here with ``AutoModel`` and pooled as sentence-transformers pools
(the same sums in the same order, so the vectors agree to float rounding; a test checks it against
``SentenceTransformer.encode``). Any other folder returns None from :func:`read_layout`, and the runner
loads it with sentence-transformers itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TYPES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
          "sentence_transformers.models.Normalize")
_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max"}
# Transformer-module settings this loader honours; a folder with any other (model_args, tokenizer_args,
# a cache folder, ...) goes to sentence-transformers, which knows what they mean.
_TRANSFORMER_KEYS = {"max_seq_length", "do_lower_case"}


@dataclass(frozen=True)
class Layout:
    """What a sentence-transformers folder says about its modules, as this loader runs them."""

    folder: Path
    max_seq_length: int | None
    do_lower_case: bool
    pooling: str  # "mean", "cls" or "max"
    normalize: bool


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_layout(folder: str | Path) -> Layout | None:
    """The folder's layout when it is Transformer + Pooling (+ Normalize) with one pooling mode this loader
    runs, else None (a hub id, another module, a prompt, weighted or last-token pooling)."""
    folder = Path(folder)
    modules = _json(folder / "modules.json")
    if not isinstance(modules, list) or not 2 <= len(modules) <= 3:
        return None
    types = [m.get("type") if isinstance(m, dict) else None for m in modules]
    if types != list(_TYPES[: len(types)]) or modules[0].get("path", "") != "":
        return None
    settings = _json(folder / "sentence_bert_config.json") or {}
    pooling = _json(folder / str(modules[1].get("path", "")) / "config.json")
    st_config = _json(folder / "config_sentence_transformers.json") or {}
    if not isinstance(settings, dict) or set(settings) - _TRANSFORMER_KEYS or not isinstance(pooling, dict):
        return None
    if st_config.get("prompts") or st_config.get("default_prompt_name"):
        return None  # encode() would add a prompt this loader does not know about
    modes = [name for key, name in _POOLING_KEYS.items() if pooling.get(key)]
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k not in _POOLING_KEYS]
    if len(modes) != 1 or others or pooling.get("include_prompt") is False:
        return None
    limit = settings.get("max_seq_length")
    return Layout(folder=folder, max_seq_length=int(limit) if limit else None,
                  do_lower_case=bool(settings.get("do_lower_case", False)), pooling=modes[0],
                  normalize=len(types) == 3)


class PooledTransformer:
    """A loaded :class:`Layout`: ``auto_model`` (transformers), ``tokenizer``, ``max_seq_length``, and
    ``model(features)["sentence_embedding"]`` as a SentenceTransformer answers it.

    ``weights=False`` loads the tokenizer and the config now and the weights on first use of
    ``auto_model``: a runner whose vectors come from the ONNX export never holds a second copy of them."""

    def __init__(self, layout: Layout, *, device: str = "cpu", local_files_only: bool = True,
                 weights: bool = True):
        from transformers import AutoConfig, AutoTokenizer

        self.layout = layout
        self._where: list[Any] = [device]  # device, then any dtype: applied to the weights when they load
        self._local = local_files_only
        self._auto_model = None
        folder = str(layout.folder)
        self.config = AutoConfig.from_pretrained(folder, local_files_only=local_files_only)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_files_only)
        limit = layout.max_seq_length
        model_limit = getattr(self.config, "max_position_embeddings", None)
        # as sentence-transformers: the configured length, else the tokenizer's, never past the positions
        if limit is None:
            limit = min(self.tokenizer.model_max_length, model_limit or self.tokenizer.model_max_length)
        self.max_seq_length = int(limit)
        if weights:
            _ = self.auto_model

    @property
    def weights_loaded(self) -> bool:
        return self._auto_model is not None

    @property
    def auto_model(self):
        """The transformers model (``AutoModel``), in eval mode; loaded on first use."""
        if self._auto_model is None:
            from transformers import AutoModel

            from .base import library_progress_bars_off

            with library_progress_bars_off():  # a first use outside Runner.load shows no "Loading weights" bar
                model = AutoModel.from_pretrained(str(self.layout.folder), config=self.config,
                                                  local_files_only=self._local)
            for where in self._where:
                model = model.to(where)
            self._auto_model = model.eval()
        return self._auto_model

    @property
    def pooling(self) -> str:
        return self.layout.pooling

    def to(self, dtype_or_device: Any) -> PooledTransformer:
        self._where.append(dtype_or_device)
        if self._auto_model is not None:
            self._auto_model = self._auto_model.to(dtype_or_device)
        return self

    def eval(self) -> PooledTransformer:
        if self._auto_model is not None:
            self._auto_model.eval()
        return self

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.config.hidden_size)

    def __call__(self, features: dict) -> dict:
        import torch

        wanted = set(self.tokenizer.model_input_names)
        inputs = {k: v for k, v in features.items() if k in wanted or k in ("input_ids", "attention_mask")}
        hidden = self.auto_model(**inputs, return_dict=True).last_hidden_state
        mask = features["attention_mask"]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            masked = hidden.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(hidden.dtype).min)
            pooled = masked.max(dim=1).values
        else:
            weights = mask.unsqueeze(-1).expand(hidden.size()).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / torch.clamp(weights.sum(1), min=1e-9)
        if self.layout.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return {"sentence_embedding": pooled, "token_embeddings": hidden}
