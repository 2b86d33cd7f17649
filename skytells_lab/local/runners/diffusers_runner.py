"""Any diffusers text-to-image pipeline (a local folder or a hub id) as a prediction runner.

Made for Stable Diffusion or FLUX class models on a GPU machine; the tests run it on a tiny Stable Diffusion
pipeline with random weights that :func:`save_tiny_stable_diffusion` writes in under a second.
"""

from __future__ import annotations

import inspect
import io
import pathlib
import threading
from typing import Any, ClassVar

from .base import (
    PROMPT_MAX_CHARS,
    OutputFile,
    PredictionRunner,
    RunContext,
    diffusers_dtype_kwargs,
    hub_offline,
)
from .digits import load_image


class DiffusersRunner(PredictionRunner):
    """Text-to-image (and image-to-image where the pipeline has one) with any diffusers pipeline.

    Seeds drive one CPU ``torch.Generator`` per output (seed + i), so a seed gives the same starting noise on
    every device. Cancellation and progress go through ``callback_on_step_end``.
    """

    type = "image"
    capabilities: ClassVar[list[str]] = ["text-to-image", "image-to-image"]
    pricing: ClassVar[dict | None] = {"amount": 0.01, "currency": "USD", "unit": "image"}

    def __init__(self, path: str | pathlib.Path, *, slug: str | None = None, device: str = "auto",
                 dtype: Any = None, name: str | None = None, description: str | None = None,
                 num_inference_steps: int = 25, guidance_scale: float = 7.5, license: str | None = None):
        tail = str(path).rstrip("/").rsplit("/", 1)[-1]
        super().__init__(slug=slug or tail.lower(), device=device, dtype=dtype, name=name or tail,
                         description=description or f"Diffusers pipeline {path}, run locally.")
        self.path = str(path)
        self.default_steps = int(num_inference_steps)
        self.default_guidance = float(guidance_scale)
        self.license = license
        self._pipe = None
        self._img2img = None
        self._call_lock = threading.Lock()  # a pipeline keeps per-call state (scheduler timesteps)

    def source(self) -> str:
        return self.path

    def _load(self) -> None:
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        kwargs = {**diffusers_dtype_kwargs(self.dtype), "local_files_only": hub_offline()}
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(self.path, **kwargs)
        except (ValueError, KeyError):  # not a text-to-image family AutoPipeline knows
            pipe = DiffusionPipeline.from_pretrained(self.path, **kwargs)
        pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe

    @property
    def pipeline(self):
        self.load()
        return self._pipe

    def _image_pipeline(self):
        if self._img2img is None:
            from diffusers import AutoPipelineForImage2Image

            try:
                self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipeline)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"image: {self.slug} has no image-to-image mode") from exc
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    def predict(self, input: dict, ctx: RunContext) -> list[OutputFile]:
        import secrets

        import torch

        ctx.check()
        n = int(input.get("num_outputs", 1))
        steps = int(input.get("num_inference_steps", self.default_steps))
        seed = input.get("seed")
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        image = input.get("image")
        pipe = self._image_pipeline() if image not in (None, "") else self.pipeline
        accepted = inspect.signature(pipe.__call__).parameters

        def on_step_end(pipeline, i, t, callback_kwargs):
            ctx.progress((i + 1) / steps)
            ctx.check()  # raising here unwinds the pipeline between two denoising steps
            return callback_kwargs

        kwargs = {
            "prompt": input.get("prompt"),
            "negative_prompt": input.get("negative_prompt"),
            "num_images_per_prompt": n,
            "batch_size": n,
            "width": input.get("width"),
            "height": input.get("height"),
            "num_inference_steps": steps,
            "guidance_scale": float(input.get("guidance_scale", self.default_guidance)),
            "generator": [torch.Generator().manual_seed(seed + i) for i in range(n)],
            "callback_on_step_end": on_step_end,
            "output_type": "pil",
        }
        if image not in (None, ""):
            kwargs.update(image=load_image(image).convert("RGB"), strength=float(input.get("strength", 0.6)))
        kwargs = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
        with self._call_lock, torch.inference_mode():
            images = pipe(**kwargs).images
        ctx.progress(1.0)
        outputs = []
        for i, img in enumerate(images):
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            outputs.append(OutputFile(buf.getvalue(), "image/png", f"out-{i}.png"))
        return outputs

    def metrics(self, input: dict) -> dict:
        return {"image_count": int(input.get("num_outputs", 1))}

    def input_schema(self) -> dict:
        return {
            "type": "object", "title": "Input", "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string", "title": "Prompt", "maxLength": PROMPT_MAX_CHARS, "x-order": 0},
                "negative_prompt": {"type": "string", "title": "Negative prompt", "maxLength": PROMPT_MAX_CHARS,
                                    "x-order": 1},
                "image": {"type": "string", "format": "uri", "title": "Image", "x-accept": "image/*", "x-order": 2,
                          "description": "Start picture for image-to-image; omit for text-to-image."},
                "strength": {"type": "number", "title": "Strength", "minimum": 0, "maximum": 1, "default": 0.6,
                             "x-order": 3},
                "num_outputs": {"type": "integer", "title": "Number of outputs", "minimum": 1, "maximum": 4,
                                "default": 1, "x-order": 4},
                "width": {"type": "integer", "title": "Width", "minimum": 64, "maximum": 2048, "x-order": 5,
                          "description": "A multiple of 8; the model's native size when omitted."},
                "height": {"type": "integer", "title": "Height", "minimum": 64, "maximum": 2048, "x-order": 6},
                "num_inference_steps": {"type": "integer", "title": "Inference steps", "minimum": 1,
                                        "maximum": 200, "default": self.default_steps, "x-order": 7},
                "guidance_scale": {"type": "number", "title": "Guidance scale", "minimum": 0, "maximum": 30,
                                   "default": self.default_guidance, "x-order": 8},
                "seed": {"type": "integer", "title": "Seed", "minimum": 0, "maximum": 2**31 - 1, "x-order": 9},
            },
        }

    def output_schema(self) -> dict:
        return {"type": "array", "title": "Output", "items": {"type": "string", "format": "uri"}}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table (transformers 5 no longer exports it)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


def save_tiny_stable_diffusion(path: str | pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Write a Stable Diffusion pipeline with tiny random weights (about 8.5 MB) to ``path`` and return it.

    It renders noise, but loads and runs through exactly the code path of a real Stable Diffusion model,
    which makes it the fixture for loading, API-shape and parity tests (diffusers' own unit-test recipe).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=514,
    ))
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    path = pathlib.Path(path)
    pipe.save_pretrained(path)
    return path
