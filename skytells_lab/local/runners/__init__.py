"""Open-model runners for the embedded server, one module per modality.

Importing this package is cheap: torch, transformers and diffusers load inside the runners, on first use.

    from skytells_lab.local.runners import default_runners, build_runner
    runners = default_runners("auto")            # all-minilm-l6-v2, smollm2-135m-instruct, digits-diffusion
    sd = build_runner({"runner": "diffusers", "path": "stabilityai/sd-turbo", "dtype": "float16"}, "cuda")
"""

from __future__ import annotations

from typing import Any

from .base import (
    Cancelled,
    ChatRunner,
    EmbeddingRunner,
    Generation,
    OutputFile,
    PredictionRunner,
    RunContext,
    Runner,
    resolve_device,
)
from .chat import TransformersChatRunner
from .diffusers_runner import DiffusersRunner, save_tiny_stable_diffusion
from .digits import DigitsDiffusionRunner, parse_digit
from .embeddings import SentenceTransformerRunner, shared_embedder
from .faults import ScrambledEmbeddingRunner

__all__ = [
    "Cancelled", "ChatRunner", "DiffusersRunner", "DigitsDiffusionRunner", "EmbeddingRunner", "Generation",
    "OutputFile", "PredictionRunner", "RunContext", "Runner", "ScrambledEmbeddingRunner", "SentenceTransformerRunner",
    "TransformersChatRunner", "build_runner", "default_runners", "parse_digit", "resolve_device",
    "save_tiny_stable_diffusion", "shared_embedder",
]

RUNNERS = {
    "embeddings": SentenceTransformerRunner,
    "chat": TransformersChatRunner,
    "digits": DigitsDiffusionRunner,
    "diffusers": DiffusersRunner,
    "embeddings-scrambled": ScrambledEmbeddingRunner,  # a known fault, for parity runs
}
_COMMON = ("slug", "dtype", "name", "description")
_OPTIONS = {
    "embeddings": ("batch_size", "max_batch_tokens", "backend", "precision"),
    "chat": ("gguf_file", "cache_dir"),
    "digits": (),
    "diffusers": ("num_inference_steps", "guidance_scale", "license"),
    "embeddings-scrambled": ("batch_size", "tokens", "seed"),
}


def default_runners(device: str = "auto", dtype: Any = None) -> list[Runner]:
    """The three built-in models: embeddings, chat and the digits image model. Nothing is loaded yet.
    ``dtype`` (float32, float16, bfloat16) applies to all three, e.g. for GPU parity runs."""
    return [shared_embedder(device, dtype), TransformersChatRunner(device=device, dtype=dtype),
            DigitsDiffusionRunner(device=device, dtype=dtype)]


def build_runner(spec: dict[str, Any], device: str = "auto") -> Runner:
    """A runner from a config entry, e.g. ``{"runner": "diffusers", "path": "...", "slug": "sd", "dtype":
    "float16"}``. ``type`` and ``capabilities`` in the spec override the runner's own; ``device`` in the spec
    overrides the server's. Unknown keys are an error, so a typo in a config file does not pass silently."""
    spec = dict(spec)
    kind = spec.pop("runner", None)
    if kind not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got {kind!r}")
    path = spec.pop("path", None)
    if kind == "diffusers" and not path:
        raise ValueError("path: a diffusers runner needs a local folder or a hub id")
    type_, capabilities = spec.pop("type", None), spec.pop("capabilities", None)
    device = spec.pop("device", device)
    unknown = set(spec) - set(_COMMON) - set(_OPTIONS[kind])
    if unknown:
        raise ValueError(f"unknown option(s) for runner {kind!r}: {', '.join(sorted(unknown))}")
    runner = RUNNERS[kind](path, device=device, **spec)
    if type_:
        runner.type = type_
    if capabilities:
        runner.capabilities = list(capabilities)
    return runner
