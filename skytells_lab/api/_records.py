"""Plain records (dicts of JSON-like values) of the client's results, one per row a table of them would
have: what ``to_records()`` returns and what every ``.frame()`` is built from. No pandas here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from skytells_lab._media import is_media_uri

__all__ = [
    "MODEL_COLUMNS",
    "PREDICTION_COLUMNS",
    "chat_rows",
    "flatten_safety",
    "model_rows",
    "prediction_rows",
    "response_rows",
]

PREDICTION_COLUMNS = [
    "id", "model", "type", "status", "created_at", "started_at", "completed_at", "predict_time", "total_time",
    "credits_used", "output", "outputs", "error", "prompt", "media_inputs", "input",
]
MODEL_COLUMNS = ["slug", "name", "type", "description", "vendor", "price", "currency", "unit", "capabilities",
                 "status", "billable", "openai_compatible"]


def _media_inputs(values: dict) -> list[str]:
    found = []
    for value in values.values():
        for v in value if isinstance(value, list) else [value]:
            if is_media_uri(v):
                found.append(v)
    return found


def prediction_rows(predictions: Iterable[Any]) -> list[dict[str, Any]]:
    """Plain dicts, one per Prediction, with the columns of :data:`PREDICTION_COLUMNS`."""
    rows = []
    for p in predictions:
        inputs = dict(p.input or {})
        prompt = inputs.get("prompt")
        rows.append({
            "id": p.id,
            "model": p.model,
            "type": p.model_type,
            "status": str(getattr(p.status, "value", p.status)),
            "created_at": p.created_at,
            "started_at": p.started_at,
            "completed_at": p.completed_at,
            "predict_time": p.metrics.predict_time,
            "total_time": p.metrics.total_time,
            "credits_used": p.credits_used,
            "output": p.outputs[0] if p.outputs else None,
            "outputs": list(p.outputs),
            "error": p.error,
            "prompt": prompt if isinstance(prompt, str) else None,
            "media_inputs": _media_inputs(inputs),
            "input": inputs,
        })
    return rows


def model_rows(models: Iterable[Any], *, schemas: bool = False) -> list[dict[str, Any]]:
    """Plain dicts, one per Model, with the columns of :data:`MODEL_COLUMNS` (and ``inputs`` with ``schemas``)."""
    rows = []
    for m in models:
        pricing = m.pricing
        vendor = m.vendor if isinstance(m.vendor, dict) else {}
        row = {
            "slug": m.slug, "name": m.name, "type": m.type, "description": m.description,
            "vendor": vendor.get("name"), "price": pricing.amount if pricing else None,
            "currency": pricing.currency if pricing else None, "unit": pricing.unit if pricing else None,
            "capabilities": list(m.capabilities), "status": m.status, "billable": m.billable,
            "openai_compatible": bool((m.metadata or {}).get("openai_compatible")),
        }
        if schemas:
            row["inputs"] = list(((m.input_schema or {}).get("properties") or {}).keys())
        rows.append(row)
    return rows


def flatten_safety(results: Any, prefix: str) -> dict[str, Any]:
    """{"hate": {"filtered": false, "severity": "safe"}, ...} -> {prefix.hate.filtered: False, ...}."""
    out: dict[str, Any] = {}
    if not isinstance(results, dict):
        return out
    for category, verdict in results.items():
        if isinstance(verdict, dict):
            for key, value in verdict.items():
                if isinstance(value, (str, bool, int, float)) or value is None:
                    out[f"{prefix}.{category}.{key}"] = value
    flags = [v for k, v in out.items() if k.endswith((".filtered", ".detected"))]
    if flags:
        out[f"{prefix}.flagged"] = any(bool(v) for v in flags)
    return out


def chat_rows(completion: Any) -> list[dict[str, Any]]:
    usage = completion.usage
    prompt_safety: dict[str, Any] = {}
    for entry in completion.prompt_filter_results or []:
        if entry.get("prompt_index", 0) == 0:
            prompt_safety = flatten_safety(entry.get("content_filter_results"), "prompt_safety")
    rows = []
    for choice in completion.choices:
        content = choice.message.content
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        rows.append({
            "id": completion.id, "model": completion.model, "created": completion.created,
            "choice": choice.index, "role": choice.message.role, "text": content,
            "finish_reason": choice.finish_reason, "refusal": choice.message.refusal,
            "prompt_tokens": usage.tokens_in if usage else None,
            "completion_tokens": usage.tokens_out if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
            **flatten_safety(choice.content_filter_results, "safety"),
            **prompt_safety,
        })
    return rows


def response_rows(response: Any) -> list[dict[str, Any]]:
    usage = response.usage
    safety: dict[str, Any] = {}
    for entry in response.content_filters or []:
        source = entry.get("source_type") or "completion"
        prefix = "prompt_safety" if source == "prompt" else "safety"
        safety[f"{prefix}.blocked"] = entry.get("blocked")
        safety.update(flatten_safety(entry.get("content_filter_results"), prefix))
    rows = []
    for i, item in enumerate(response.output or [{}]):
        texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        rows.append({
            "id": response.id, "model": response.model, "status": response.status,
            "created": response.created_at, "output_index": i, "item_id": item.get("id"), "type": item.get("type"),
            "role": item.get("role"), "text": "".join(texts) if item else None,
            "input_tokens": usage.tokens_in if usage else None, "output_tokens": usage.tokens_out if usage else None,
            "total_tokens": usage.total_tokens if usage else None, **safety,
        })
    return rows
