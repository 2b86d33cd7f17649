"""What a call costs under a model's ``pricing {amount, unit}``: one rule for the local server's billing,
the client's budget estimates and comparison summaries."""

from __future__ import annotations

import math
from typing import Any

PER_ASSET = {"image", "video", "audio", "asset", "image_megapixel", "megapixel"}
PER_SECOND = {"second", "seconds", "computing_second", "gpu", "audio_second", "video_second"}
PER_TOKEN = {"token", "tokens"}
PER_MILLION_TOKENS = {"million_token", "million_tokens", "1m_tokens", "per_million_tokens"}


def pricing_unit(pricing: Any) -> str:
    unit = pricing.get("unit") if isinstance(pricing, dict) else getattr(pricing, "unit", None)
    return str(unit or "prediction").strip().lower().replace(" ", "_")


def credits_for(pricing: Any, *, assets: int = 0, predict_time: float = 0.0, tokens: float = 0) -> float | None:
    """Credits of one call: ``amount`` times the quantity its unit counts; None when the model has no price.

    ``pricing`` is the catalog's dict or a typed ``Model.pricing``.
    """
    if pricing is None:
        return None
    amount = pricing.get("amount") if isinstance(pricing, dict) else getattr(pricing, "amount", None)
    if amount is None:
        return None
    unit = pricing_unit(pricing)
    if unit in PER_ASSET:
        quantity = max(assets, 1)
    elif unit in PER_SECOND:
        quantity = predict_time
    elif unit == "minute":
        quantity = predict_time / 60
    elif unit == "5_seconds":
        quantity = math.ceil(predict_time / 5)
    elif unit in PER_TOKEN:
        quantity = tokens
    elif unit in PER_MILLION_TOKENS:
        quantity = tokens / 1e6
    else:
        quantity = 1
    return round(float(amount) * quantity, 8)
