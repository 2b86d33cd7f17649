"""A known fault to test parity against: an embedding model with the input embeddings of a few tokens scrambled.

A bad fine-tune or a broken conversion can damage a few rows of a model's embedding matrix and leave the
rest intact; :class:`ScrambledEmbeddingRunner` serves such a copy, made in memory when it loads (each named
token's row replaced by a seeded random vector of the same norm), so a parity run can show that the damage is
caught and which inputs it touches. The session server of `skytells-lab lab` and Binder serves one
(``minilm-cat-scrambled``) for tutorial 06, so that tutorial needs no second server, and no second copy of
torch and the models, inside its kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .embeddings import SentenceTransformerRunner

# The config entry of tutorial 06's damaged model, as the session server serves it (``[models.<slug>]``).
CAT_SCRAMBLED = {"runner": "embeddings-scrambled", "tokens": ["cat"], "seed": 0}


class ScrambledEmbeddingRunner(SentenceTransformerRunner):
    """A sentence-transformers model (all-MiniLM-L6-v2 by default) whose input embeddings of `tokens` are
    replaced, on load, by random vectors (``seed``) of each row's own norm; every other weight is the model's."""

    def __init__(self, path: str | None = None, *, tokens: Sequence[str] = ("cat",), seed: int = 0,
                 slug: str = "minilm-scrambled", name: str | None = None, description: str | None = None,
                 **options: Any):
        if isinstance(tokens, str) or not tokens or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError(f"tokens must be a non-empty list of token strings, e.g. ['cat'], not {tokens!r}")
        if options.setdefault("backend", "torch") != "torch":
            raise ValueError("backend: the scrambled copy is made in the torch weights as they load, so it runs on "
                             f"backend = \"torch\" only, not {options['backend']!r}")
        self.tokens, self.seed = list(tokens), int(seed)
        words = ", ".join(self.tokens)
        super().__init__(path, slug=slug, name=name or f"all-MiniLM-L6-v2, scrambled: {words}",
                         description=description or (
                             f"A deliberately damaged copy of {path or 'all-MiniLM-L6-v2'}: the input embeddings "
                             f"of {words} are random vectors. For parity runs: not a model to use."), **options)

    def _load(self) -> None:
        import torch

        super()._load()
        weights = self.transformer.get_input_embeddings().weight
        tokenizer = self._model.tokenizer
        generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for token in self.tokens:
                row = tokenizer.convert_tokens_to_ids(token)
                if row is None or row == tokenizer.unk_token_id:
                    raise ValueError(f"tokens: {token!r} is not one token of {self.source()}; "
                                     "name whole tokens of its vocabulary")
                noise = torch.randn(weights.shape[1], generator=generator)
                weights[row] = (noise / noise.norm() * weights[row].float().norm()).to(weights.dtype)
