"""The interface every local model runner implements, and what runners share (device, dtype, catalog entry).

Nothing here imports torch at module level: building runners and listing the catalog stays cheap, and the
weights load on first use (``Runner.load``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pathlib

    import numpy as np

DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}


SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # the seeds torch.manual_seed accepts
PROMPT_MAX_CHARS = 2000  # a prompt's maxLength in the input schemas: far past what a text encoder reads


class ContextLengthExceeded(ValueError):
    """The prompt does not fit the model's context: the server answers 400 `context_length_exceeded`."""

    def __init__(self, prompt_tokens: int, context: int, *, at_least: bool = False):
        more = "at least " if at_least else ""
        super().__init__(f"the prompt is {more}{prompt_tokens} tokens, the model's context is {context}")
        self.prompt_tokens, self.context, self.at_least = prompt_tokens, context, at_least


class Cancelled(Exception):
    """Raised by :meth:`RunContext.check` once the prediction has been cancelled."""


@dataclass
class OutputFile:
    """One output of a prediction: the bytes, their MIME type and the file name to serve them under."""

    data: bytes
    mime: str
    filename: str


class RunContext:
    """What the worker hands a prediction runner: the device, a progress sink and a cancel flag.

    ``on_progress`` receives fractions in 0..1; ``cancel_event`` (or :meth:`cancel`) requests cancellation,
    which the runner notices at its next :meth:`check`.
    """

    def __init__(self, device: str = "cpu", on_progress: Callable[[float], None] | None = None,
                 cancel_event: threading.Event | None = None):
        self.device = device
        self._on_progress = on_progress
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self.last_progress = 0.0

    def progress(self, fraction: float) -> None:
        self.last_progress = min(1.0, max(0.0, float(fraction)))
        if self._on_progress is not None:
            self._on_progress(self.last_progress)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("prediction cancelled")

    def __repr__(self) -> str:
        return f"RunContext(device={self.device!r}, progress={self.last_progress:.2f}, cancelled={self.cancelled})"


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; explicit names pass through (``cuda:1``)."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def dtype_name(dtype: Any) -> str:
    """Canonical name (``float32``, ``float16``, ``bfloat16``) of a dtype given by name or as a torch dtype."""
    if dtype is None:
        return "float32"
    name = str(dtype).removeprefix("torch.").lower()
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of float32, float16, bfloat16, got {dtype!r}")
    return DTYPES[name]


def torch_dtype(dtype: Any):
    import torch

    return getattr(torch, dtype_name(dtype))


def diffusers_dtype_kwargs(dtype: Any) -> dict:
    """``{"dtype": ...}`` for diffusers' ``from_pretrained``; releases before 0.36 call it ``torch_dtype``."""
    from diffusers.utils import deprecation_utils

    key = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    return {key: torch_dtype(dtype)}


# One load at a time in a process: concurrent first imports of transformers/diffusers modules and concurrent
# weight materialization race each other ("cannot import name ...", "Cannot copy out of meta tensor").
_LOAD_LOCK = threading.RLock()


@contextlib.contextmanager
def library_progress_bars_off():
    """The model libraries' own tqdm bars ("Loading weights", "Writing model shards", hub downloads) off while
    a runner loads, and back as they were after: in a notebook the embedded server loads inside the kernel,
    and those bars would land in whichever cell happened to trigger the load."""
    restore = []
    # diffusers only once imported: importing it costs seconds, and its loaders show no bar for the built-in
    # models (the pipelines' step bars are turned off where they are built)
    for name in ("transformers.utils.logging", "diffusers.utils.logging"):
        package = name.split(".")[0]
        if package not in sys.modules and (package == "diffusers" or importlib.util.find_spec(package) is None):
            continue
        module = importlib.import_module(name)
        if module.is_progress_bar_enabled():
            module.disable_progress_bar()
            restore.append(module.enable_progress_bar)
    try:
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )
    except ImportError:  # pragma: no cover - a dependency of both libraries
        pass
    else:
        if not are_progress_bars_disabled():
            disable_progress_bars()
            restore.append(enable_progress_bars)
    try:
        yield
    finally:
        for enable in reversed(restore):
            enable()


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told not to reach the network."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cache_home() -> pathlib.Path:
    """Where runners keep derived weights (see :func:`skytells_lab._paths.model_cache_home`)."""
    from skytells_lab._paths import model_cache_home

    return model_cache_home()


VENDOR = {"name": "skytells-lab (local)", "description": "Open models run on this machine by skytells-lab",
          "image_url": None, "verified": False, "slug": "local", "metadata": {}}


class Runner:
    """Base of every runner: identity, device and dtype, lazy thread-safe loading and the catalog entry.

    Subclasses set the class attributes and implement ``_load``; ``load()`` is idempotent and thread-safe.
    """

    slug: str = ""
    type: str = "text"
    capabilities: ClassVar[list[str]] = []
    name: str = ""
    description: str = ""
    pricing: ClassVar[dict | None] = None
    license: str | None = None
    openai_compatible: bool = False

    def __init__(self, *, slug: str | None = None, device: str = "auto", dtype: Any = None,
                 name: str | None = None, description: str | None = None):
        if slug:
            self.slug = slug
        if name:
            self.name = name
        if description:
            self.description = description
        self.name = self.name or self.slug
        self.capabilities = list(self.capabilities)  # per instance: a config may override them
        self._requested_device = device
        self._device: str | None = None if device in (None, "", "auto") else str(device)
        self.dtype = dtype_name(dtype)
        self._loaded = False
        self._loading = 0  # loads in progress or waiting for the process's load lock
        self._loading_lock = threading.Lock()
        self.load_seconds: float | None = None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self._requested_device)
        return self._device

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def loading(self) -> bool:
        """Whether a load is under way (or waiting behind another model's), from any thread."""
        return self._loading > 0 and not self._loaded

    def load(self) -> None:
        if self._loaded:
            return
        with self._loading_lock:
            self._loading += 1
        try:
            with _LOAD_LOCK, library_progress_bars_off():
                if not self._loaded:
                    import time

                    start = time.perf_counter()
                    self._load()
                    self.load_seconds = time.perf_counter() - start
                    self._loaded = True
        finally:
            with self._loading_lock:
                self._loading -= 1

    def _load(self) -> None:
        raise NotImplementedError

    def input_schema(self) -> dict:
        return {}

    def output_schema(self) -> dict:
        return {}

    def source(self) -> str | None:
        """Where the weights come from (package, path or hub id), for the catalog metadata."""
        return None

    def catalog_entry(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "namespace": self.slug,
            "type": self.type,
            "privacy": "public",
            "img_url": None,
            "vendor": dict(VENDOR),
            "billable": False,
            "pricing": dict(self.pricing) if self.pricing else None,
            "capabilities": list(self.capabilities),
            "metadata": {
                "edge_compatible": True,
                "openai_compatible": self.openai_compatible,
                "cold_boot": not self._loaded,
                "device": self.device,
                "dtype": self.dtype,
                "local": True,
                "source": self.source(),
                "license": self.license,
            },
            "status": "operational",
            "service": {"type": "local", "inference_party": "skytells-lab"},
            "input_schema": self.input_schema(),
            "output_schema": self.output_schema(),
        }

    def __repr__(self) -> str:
        device = self._device or self._requested_device
        return f"{type(self).__name__}(slug={self.slug!r}, device={device!r}, loaded={self._loaded})"


class PredictionRunner(Runner):
    """A model served through the predictions API (images, ...)."""

    def predict(self, input: dict, ctx: RunContext) -> list[OutputFile]:
        raise NotImplementedError

    def metrics(self, input: dict) -> dict:
        return {}


class EmbeddingRunner(Runner):
    """A model served by ``POST /v1/embeddings``."""

    type = "text"
    capabilities: ClassVar[list[str]] = ["embeddings"]

    @property
    def dimensions(self) -> int:
        raise NotImplementedError

    def embed(self, texts: list[str], dimensions: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def count_tokens(self, texts: list[str]) -> int:
        raise NotImplementedError


class Generation:
    """A chat generation in progress: iterate for text deltas; counts and finish reason once exhausted.

    ``finish_reason`` is ``"stop"`` (end of turn, a stop sequence, or a cancel) or ``"length"`` (max_tokens).
    ``text`` accumulates the deltas yielded so far; ``cancelled`` tells a cancel apart from a natural stop.
    """

    def __init__(self, deltas: Iterator[str], prompt_tokens: int):
        self._deltas = deltas
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.cancelled = False
        self.text = ""

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas:
                self.text += delta
                yield delta
        finally:  # a consumer that stops early ends the generation too, not only when collected
            close = getattr(self._deltas, "close", None)
            if close is not None:
                close()

    def read(self) -> str:
        """Run to the end and return the whole text."""
        for _ in self:
            pass
        return self.text

    def __repr__(self) -> str:
        return (f"Generation(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
                f"finish_reason={self.finish_reason!r})")


class ChatRunner(Runner):
    """A model served by ``/v1/chat/completions`` and ``/v1/responses``."""

    type = "text"
    capabilities: ClassVar[list[str]] = ["chat", "responses"]
    openai_compatible = True

    def generate(self, messages: list[dict], *, max_tokens: int, temperature: float, top_p: float,
                 seed: int | None, stop: list[str] | None, cancelled: Callable[[], bool]) -> Generation:
        raise NotImplementedError
