"""The thresholds a parity run is judged by, with the cosine tiers of numeric precision."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Per-item cosine a candidate reaches when it runs the same weights at a given precision: the same
# precision agrees to rounding, half precision to ~1e-2, int8 quantisation to ~2e-2.
COSINE_TIERS: Mapping[str, float] = MappingProxyType(
    {"fp32": 0.999, "fp16": 0.99, "bf16": 0.99, "int8": 0.98}
)

# Greedy decoding at reduced precision flips at near-ties once rounding differs, so a whole completion
# rarely matches; what holds is a common start. On an H200, fp16 SmolLM2-135M parted from the fp32
# CPU reference at word 26 and 33 of 48-token answers and matched the others exactly (2026-11-27).
# None: the completions must match exactly.
AGREE_TOKENS: Mapping[str, int | None] = MappingProxyType({"fp32": None, "fp16": 16, "bf16": 16, "int8": 16})

_PRECISION_ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "same": "fp32",
    "auto": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "qint8": "int8",
}


def precision_name(dtype: Any) -> str:
    """Normalise a dtype spelling ("float16", "torch.bfloat16", "half", "fp32") to a tier name."""
    text = str(dtype or "fp32").lower().removeprefix("torch.")
    return _PRECISION_ALIASES.get(text, text)


@dataclass(frozen=True)
class Tolerance:
    """What parity accepts per modality.

    - embeddings: every item's cosine >= `cosine`;
    - text (temperature 0): an item passes when both completions are equal or, with `agree_tokens`
      set (the reduced-precision tiers), when they agree on at least their first `agree_tokens` words;
      the rate of passing items must be >= `exact_match`;
    - images (same seed): every item's PSNR >= `psnr` dB and SSIM >= `ssim`, and, when set, mean
      absolute pixel difference <= `mean_abs_diff` (0..255 scale).

    `Tolerance.for_precision("fp16")` takes the cosine from the tier table; pass `tiers=` to change it.
    """

    cosine: float = COSINE_TIERS["fp32"]
    exact_match: float = 1.0
    agree_tokens: int | None = None
    psnr: float = 30.0
    ssim: float = 0.95
    mean_abs_diff: float | None = None
    precision: str = "fp32"
    tiers: Mapping[str, float] = field(default_factory=lambda: COSINE_TIERS, repr=False, compare=False)

    @classmethod
    def for_precision(
        cls, precision: Any = "fp32", *, tiers: Mapping[str, float] | None = None, **overrides: Any
    ) -> Tolerance:
        tiers = MappingProxyType(dict(tiers)) if tiers is not None else COSINE_TIERS
        name = precision_name(precision)
        if name not in tiers:
            raise ValueError(f"unknown precision {precision!r}; tiers: {', '.join(tiers)}")
        defaults = {"cosine": tiers[name], "agree_tokens": AGREE_TOKENS.get(name), "precision": name}
        return cls(**{**defaults, "tiers": tiers, **overrides})

    @classmethod
    def coerce(cls, value: Any, *, precision: Any = None) -> Tolerance:
        """From None (the tier of `precision`, else fp32), a tier name, a cosine threshold, a dict or a
        Tolerance."""
        if isinstance(value, Tolerance):
            return value
        if value is None:
            return cls.for_precision(precision or "fp32")
        if isinstance(value, str):
            return cls.for_precision(value)
        if isinstance(value, (int, float)):
            return cls.for_precision(precision or "fp32", cosine=float(value))
        if isinstance(value, Mapping):
            value = dict(value)
            return cls.for_precision(value.pop("precision", precision or "fp32"), **value)
        raise TypeError(
            f"tolerance must be None, a tier name, a number, a dict or a Tolerance, not {value!r}"
        )

    def replace(self, **changes: Any) -> Tolerance:
        return dataclasses.replace(self, **changes)

    def tier_of(self, cosine: float) -> str:
        """The strictest tier a cosine reaches ("fp32", "fp16/bf16", "int8"), or "below int8"."""
        names: dict[float, list[str]] = {}
        for name, threshold in self.tiers.items():
            names.setdefault(threshold, []).append(name)
        for threshold in sorted(names, reverse=True):
            if cosine >= threshold:
                return "/".join(names[threshold])
        return f"below {'/'.join(names[min(names)])}" if names else "n/a"

    def text_ok(self, equal: bool, diverges_at: int | None) -> bool:
        """Whether two completions agree: equal, or parting no earlier than word `agree_tokens`."""
        if equal:
            return True
        return self.agree_tokens is not None and diverges_at is not None and diverges_at >= self.agree_tokens

    def image_ok(self, psnr: float, ssim: float, mean_abs_diff: float) -> bool:
        ok = (math.isinf(psnr) or psnr >= self.psnr) and ssim >= self.ssim
        return ok and (self.mean_abs_diff is None or mean_abs_diff <= self.mean_abs_diff)

    def describe(self, modality: str) -> str:
        """The rule for one modality, as a short phrase for reprs and cards."""
        if modality == "embeddings":
            return f"cosine ≥ {self.cosine:g} ({self.precision})"
        if modality == "chat":
            if self.agree_tokens is None:
                return f"exact-match rate ≥ {self.exact_match:.0%}"
            return f"first {self.agree_tokens} words agree ({self.precision}) in ≥ {self.exact_match:.0%}"
        rule = f"PSNR ≥ {self.psnr:g} dB, SSIM ≥ {self.ssim:g}"
        return rule + (f", mean |Δ| ≤ {self.mean_abs_diff:g}" if self.mean_abs_diff is not None else "")
