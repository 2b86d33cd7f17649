"""``digits-diffusion``: a small class-conditional diffusion model trained on scikit-learn's 8x8 digits.

The weights (a few MB, ``skytells_lab/local/weights/digits``) come from ``train_digits.py``. Sampling is
DDIM with classifier-free guidance at the data's 8x8, upscaled (bicubic) to the requested size, dark ink on a
light background.
Image-to-image is SDEdit: the start picture is noised to ``strength`` and denoised toward the prompt's digit.
"""

from __future__ import annotations

import io
import pathlib
import re
import secrets
from typing import Any, ClassVar

from .base import (
    PROMPT_MAX_CHARS,
    OutputFile,
    PredictionRunner,
    RunContext,
    diffusers_dtype_kwargs,
    torch_dtype,
)

WEIGHTS = pathlib.Path(__file__).resolve().parent.parent / "weights" / "digits"
NULL_CLASS = 10
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_WORD_RE = re.compile(r"\b(" + "|".join(WORDS) + r")\b", re.IGNORECASE)


def parse_digit(prompt: Any) -> int:
    """The digit a prompt asks for: ``7``, ``"7"``, ``"a handwritten 7"`` or ``"the digit seven"``."""
    if isinstance(prompt, int) and not isinstance(prompt, bool) and 0 <= prompt <= 9:
        return prompt
    text = str(prompt if prompt is not None else "")
    found = re.search(r"\d", text)
    if found:
        return int(found.group())
    word = _WORD_RE.search(text)
    if word:
        return WORDS.index(word.group(1).lower())
    raise ValueError(f"prompt: name a digit 0-9 (as a numeral or an English word), got {text!r}")


def load_image(image: Any):
    """A PIL image from what an ``image`` input may hold: a MediaFile (``.data``), bytes, a data URI, a path
    or a PIL image."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    data = getattr(image, "data", image)
    if isinstance(data, str) and data.startswith("data:"):
        from skytells_lab._media import decode_data_uri

        data = decode_data_uri(data)[0]
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            return Image.open(io.BytesIO(bytes(data)))
        except Exception as exc:
            raise ValueError("image: the data is not a picture PIL can read") from exc
    if isinstance(data, (str, pathlib.Path)) and pathlib.Path(data).is_file():
        return Image.open(data)
    raise ValueError(f"image: expected image bytes, a data URI, a file path or a PIL image, got {type(image).__name__}")


def image_to_model(image: Any, size: int):
    """The picture as a (1, 1, size, size) tensor in model space: ink +1, background -1.

    The background is taken to be the majority tone of the border, so both dark-on-light and light-on-dark
    pictures read the right way round.
    """
    import numpy as np
    import torch
    from PIL import Image

    gray = load_image(image).convert("L").resize((size, size), Image.Resampling.BOX)
    v = np.asarray(gray, dtype=np.float32) / 255.0
    border = np.concatenate([v[0], v[-1], v[:, 0], v[:, -1]])
    ink = 1.0 - v if np.median(border) > 0.5 else v
    return torch.from_numpy(ink * 2.0 - 1.0)[None, None]


def model_to_png(x, width: int, height: int) -> bytes:
    """One (1, size, size) sample in [-1, 1] as PNG bytes: dark ink on white, upscaled to width x height."""
    import numpy as np
    from PIL import Image

    ink = (x.float().clamp(-1, 1).cpu().numpy()[0] + 1.0) / 2.0
    pixels = np.round((1.0 - ink) * 255.0).astype(np.uint8)
    img = Image.fromarray(pixels, mode="L").resize((width, height), Image.Resampling.BICUBIC).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class DigitsDiffusionRunner(PredictionRunner):
    """Text-to-image and image-to-image on the digits model; same seed, same PNG bytes on the same device."""

    slug = "digits-diffusion"
    type = "image"
    capabilities: ClassVar[list[str]] = ["text-to-image", "image-to-image"]
    name = "Digits Diffusion"
    description = ("A small class-conditional diffusion model trained by skytells-lab on scikit-learn's "
                   "handwritten digits; draws the digit named in the prompt, or redraws a given picture.")
    pricing: ClassVar[dict | None] = {"amount": 0.002, "currency": "USD", "unit": "image"}
    license = "Apache-2.0 (weights trained on UCI optdigits, CC BY 4.0)"

    def __init__(self, path: str | pathlib.Path | None = None, *, slug: str | None = None, device: str = "auto",
                 dtype: Any = None, name: str | None = None, description: str | None = None):
        super().__init__(slug=slug, device=device, dtype=dtype, name=name, description=description)
        self.path = pathlib.Path(path) if path else WEIGHTS
        self._unet = None
        self._size = 8
        self._scheduler_config = None

    def source(self) -> str:
        return "skytells_lab/local/weights/digits" if self.path == WEIGHTS else str(self.path)

    def _load(self) -> None:
        from diffusers import DDIMScheduler, UNet2DModel

        if not (self.path / "unet").is_dir():
            raise FileNotFoundError(f"no digits weights under {self.path}: run "
                                    "python -m skytells_lab.local.runners.train_digits --out <dir>")
        unet = UNet2DModel.from_pretrained(self.path / "unet", **diffusers_dtype_kwargs(self.dtype))
        self._unet = unet.to(self.device).eval()
        self._size = int(unet.config.sample_size)
        self._scheduler_config = DDIMScheduler.from_pretrained(self.path / "scheduler").config

    def predict(self, input: dict, ctx: RunContext) -> list[OutputFile]:
        import torch
        from diffusers import DDIMScheduler

        digit = parse_digit(input.get("prompt"))
        n = int(input.get("num_outputs", 1))
        steps = int(input.get("num_inference_steps", 25))
        guidance = float(input.get("guidance_scale", 2.0))
        width, height = int(input.get("width", 256)), int(input.get("height", 256))
        seed = input.get("seed")
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        strength = float(input.get("strength", 0.6))
        start_image = input.get("image")
        self.load()
        unet, device, dtype, size = self._unet, self.device, torch_dtype(self.dtype), self._size
        start = image_to_model(start_image, size) if start_image not in (None, "") else None

        scheduler = DDIMScheduler.from_config(self._scheduler_config)
        scheduler.set_timesteps(steps)
        timesteps = scheduler.timesteps
        # One generator per output, on the CPU: output i depends only on seed + i, on every device.
        noise = torch.cat([torch.randn((1, 1, size, size), generator=torch.Generator().manual_seed(seed + i))
                           for i in range(n)])
        if start is None:
            x = noise * scheduler.init_noise_sigma
        else:
            if not 0.0 < strength <= 1.0:
                raise ValueError("strength: must be in (0, 1] for image-to-image")
            timesteps = timesteps[steps - max(1, min(steps, round(steps * strength))):]
            x = scheduler.add_noise(start.expand(n, -1, -1, -1), noise, timesteps[:1])
        x = x.to(device, dtype)
        labels = torch.tensor([digit] * n + ([NULL_CLASS] * n if guidance != 1.0 else []), device=device)

        with torch.inference_mode():
            for k, t in enumerate(timesteps):
                ctx.check()
                model_in = torch.cat([x, x]) if guidance != 1.0 else x
                eps = unet(model_in, t.to(device), class_labels=labels).sample
                if guidance != 1.0:
                    cond, uncond = eps.chunk(2)
                    eps = uncond + guidance * (cond - uncond)
                x = scheduler.step(eps, t, x).prev_sample
                ctx.progress((k + 1) / len(timesteps))
        ctx.check()
        return [OutputFile(model_to_png(x[i], width, height), "image/png", f"out-{i}.png") for i in range(n)]

    def metrics(self, input: dict) -> dict:
        return {"image_count": int(input.get("num_outputs", 1))}

    def input_schema(self) -> dict:
        return {
            "type": "object", "title": "Input", "required": ["prompt"],
            "properties": {
                "prompt": {"type": "string", "title": "Prompt", "maxLength": PROMPT_MAX_CHARS, "x-order": 0,
                           "description": "The digit to draw: 0-9 as a numeral or an English word, "
                                          "alone or in a sentence (\"a handwritten seven\")."},
                "image": {"type": "string", "format": "uri", "title": "Image", "x-accept": "image/*", "x-order": 1,
                          "description": "Start picture for image-to-image (SDEdit); omit for text-to-image."},
                "strength": {"type": "number", "title": "Strength", "minimum": 0, "maximum": 1, "default": 0.6,
                             "x-order": 2, "description": "Image-to-image only: how far to move away from the "
                                                          "start picture (1 ignores it)."},
                "num_outputs": {"type": "integer", "title": "Number of outputs", "minimum": 1, "maximum": 4,
                                "default": 1, "x-order": 3},
                "width": {"type": "integer", "title": "Width", "minimum": 16, "maximum": 512, "default": 256,
                          "x-order": 4, "description": "Output width; the model draws at 8x8 and upscales."},
                "height": {"type": "integer", "title": "Height", "minimum": 16, "maximum": 512, "default": 256,
                           "x-order": 5},
                "num_inference_steps": {"type": "integer", "title": "Inference steps", "minimum": 1,
                                        "maximum": 200, "default": 25, "x-order": 6},
                "guidance_scale": {"type": "number", "title": "Guidance scale", "minimum": 0, "maximum": 20,
                                   "default": 2.0, "x-order": 7,
                                   "description": "Classifier-free guidance; 1 turns it off."},
                "seed": {"type": "integer", "title": "Seed", "minimum": 0, "maximum": 2**31 - 1, "x-order": 8,
                         "description": "Same seed, same images. Random when omitted."},
            },
        }

    def output_schema(self) -> dict:
        return {"type": "array", "title": "Output", "items": {"type": "string", "format": "uri"}}
