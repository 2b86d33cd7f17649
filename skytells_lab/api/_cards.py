"""HTML cards of the client's results: predictions, pages, models, chat completions, responses, embeddings,
safety results and errors, built with the card kit (:mod:`skytells_lab._html`).

The wire client's types call these from their ``_repr_html_``; the notebook layer re-exports them and adds
cards of its own (cache, ledger, image grids). Cards never contain the API key: values are escaped, and
whatever key the object's client holds is masked from the finished HTML as a last guard.
"""

from __future__ import annotations

import io
import json
from typing import Any

from skytells_lab._html import (
    ACCENT,
    DANGER,
    MUTED,
    STATUS_COLORS,
    SUCCESS,
    TD,
    TH,
    WARNING,
    badge,
    card,
    chip,
    e,
    error_card,
    heading,
    img,
    json_pre,
    media_html,
    pre,
    rows,
    seconds,
    short,
    thumbnail_uri,
    when,
)
from skytells_lab._media import decode_data_uri, is_media_uri, media_kind, output_kind

__all__ = [
    "MAX_INLINE_OUTPUTS",
    "OUTPUT_PX",
    "THUMB_PX",
    "chat_html",
    "embedding_html",
    "error_html",
    "model_html",
    "model_page_html",
    "page_html",
    "prediction_html",
    "response_html",
    "safety_html",
    "secret_of",
    "thumbnail_html",
]

THUMB_PX = 96
OUTPUT_PX = 256
MAX_INLINE_OUTPUTS = 4


def secret_of(obj: Any) -> str | None:
    """The API key of the client an object came from, to mask it from its card."""
    client = getattr(obj, "_client", None)
    key = getattr(client, "_api_key", None)
    return key.get() if hasattr(key, "get") else None


def thumbnail_html(value: Any, px: int = THUMB_PX) -> str:
    """A small preview of a media input: images are downscaled into the page, audio gets a player."""
    if not isinstance(value, str):
        return e(value)
    kind = media_kind(value)
    if kind == "image" and value.startswith("data:"):
        try:
            data, mime = decode_data_uri(value)
        except ValueError:
            data = None
        if data is not None:
            try:
                from PIL import Image

                with Image.open(io.BytesIO(data)) as image:
                    label = f"{mime}, {image.width}×{image.height}, {len(data):,} bytes"
                    return img(thumbnail_uri(image, px), px, title=label)
            except (OSError, ValueError, SyntaxError):  # PIL cannot read it: let the browser try
                return img(value, px)
        return img(value, px)
    if kind is not None:
        return media_html(value, px=px, kind=kind)
    return e(short(value))


def _outputs_html(prediction: Any) -> str:
    urls = list(getattr(prediction, "outputs", None) or [])
    if not urls:
        output = getattr(prediction, "output", None)
        return json_pre(output) if output not in (None, [], {}) else ""
    model_type = getattr(prediction, "model_type", None)
    kinds = [output_kind(u, model_type) for u in urls]
    inline: dict[int, str] = {}
    if "image" in kinds and getattr(prediction, "_client", None) is not None:
        try:  # fetch through the client so the picture is in the notebook, not a link that expires
            for i, image in enumerate(prediction.images()[:MAX_INLINE_OUTPUTS]):
                inline[i] = img(thumbnail_uri(image, OUTPUT_PX), OUTPUT_PX, title=urls[i] if i < len(urls) else "")
        except Exception:  # noqa: BLE001 - a card must render even when the file cannot be fetched
            inline = {}
    parts = []
    for i, (url, kind) in enumerate(zip(urls, kinds)):
        if i in inline:
            parts.append(inline[i])
        elif i < MAX_INLINE_OUTPUTS or kind != "image":
            parts.append(media_html(url, kind=kind))
    more = len(urls) - len(parts)
    if more > 0:
        parts.append(f'<span style="color:{MUTED}">+{more} more</span>')
    return '<div style="display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start">' + "".join(parts) + "</div>"


def _input_html(values: dict) -> str:
    pairs = []
    for key, value in values.items():
        if is_media_uri(value):
            pairs.append((key, thumbnail_html(value)))
        elif isinstance(value, list) and value and all(is_media_uri(v) for v in value):
            pairs.append((key, "".join(thumbnail_html(v) for v in value)))
        elif isinstance(value, (dict, list)):
            pairs.append((key, e(short(json.dumps(value, default=str), 200))))
        else:
            pairs.append((key, e(short(str(value), 300)) if value is not None else "null"))
    return rows(pairs)


# --------------------------------------------------------------------------- cards


def prediction_html(prediction: Any) -> str:
    p = prediction
    status = str(getattr(p.status, "value", p.status))
    metrics = p.metrics
    progress = getattr(metrics, "progress", None)
    badges = badge(status)
    if progress is not None and not p.is_terminal:
        badges += badge(f"{float(progress):.0f}%", ACCENT)
    pairs = [
        ("model", e(p.model) + (f' <span style="color:{MUTED}">({e(p.model_type)})</span>' if p.model_type else "")),
        ("created", when(p.created_at)),
        ("started", when(p.started_at)),
        ("completed", when(p.completed_at)),
        ("predict time", seconds(metrics.predict_time)),
        ("total time", seconds(metrics.total_time)),
        ("credits", "" if p.credits_used is None else e(f"{p.credits_used:g}")),
        ("error", f'<span style="color:{DANGER}">{e(p.error)}</span>' if p.error else ""),
        ("note", e(p.message) if p.message else ""),
        ("webhook", e(_webhook_url(p.webhook))),
    ]
    body = rows(pairs)
    if p.input:
        body += heading("input") + _input_html(p.input)
    outputs = _outputs_html(p)
    if outputs:
        body += heading("output") + outputs
    return card("Prediction", p.id, body, badges=badges, secret=secret_of(p))


def _webhook_url(webhook: Any) -> str | None:
    if isinstance(webhook, dict):
        return webhook.get("url")
    return webhook if isinstance(webhook, str) else None


def model_html(model: Any) -> str:
    m = model
    pricing = m.pricing
    price = ""
    if pricing is not None and pricing.amount is not None:
        price = e(f"{pricing.amount:g} {pricing.currency or ''} / {pricing.unit or '?'}")
    vendor = (m.vendor or {}).get("name") if isinstance(m.vendor, dict) else None
    flags = [k for k in ("openai_compatible", "edge_compatible", "cold_boot") if (m.metadata or {}).get(k)]
    pairs = [
        ("name", e(m.name)),
        ("type", e(m.type)),
        ("description", e(m.description)),
        ("vendor", e(vendor)),
        ("pricing", price),
        ("capabilities", "".join(chip(c) for c in m.capabilities)),
        ("flags", "".join(chip(f) for f in flags)),
        ("device", e((m.metadata or {}).get("device"))),
    ]
    body = rows(pairs) + _schema_html(m.input_schema)
    badges = badge(m.status) if m.status else ""
    return card("Model", m.slug, body, badges=badges)


def _schema_html(schema: dict | None) -> str:
    props = (schema or {}).get("properties") or {}
    if not props:
        return ""
    required = set((schema or {}).get("required") or [])
    order = sorted(props, key=lambda k: (props[k].get("x-order", 1e9), k))
    head = "".join(f'<th style="{TH}">{h}</th>' for h in ("input", "type", "default", "description"))
    rows = []
    for name in order:
        prop = props[name]
        kind = prop.get("type", "")
        if prop.get("format"):
            kind = f"{kind} ({prop['format']})"
        if prop.get("enum"):
            kind += " ∈ " + ", ".join(map(str, prop["enum"]))
        label = f"<b>{e(name)}</b>" if name in required else e(name)
        rows.append(f'<tr><td style="{TD};padding-right:10px">{label}</td><td style="{TD};padding-right:10px">'
                    f'{e(kind)}</td><td style="{TD};padding-right:10px">{e(prop.get("default", ""))}</td>'
                    f'<td style="{TD}">{e(prop.get("description", ""))}</td></tr>')
    return (f'<table style="border-collapse:collapse;margin-top:6px;font-size:12px"><tr>{head}</tr>'
            f'{"".join(rows)}</table>')


def _safety_html(results: dict | None, title: str) -> str:
    if not isinstance(results, dict) or not results:
        return ""
    chips = []
    for category, verdict in results.items():
        if not isinstance(verdict, dict):
            continue
        flagged = verdict.get("filtered") or verdict.get("detected")
        severity = verdict.get("severity")
        label = f"{category}: {severity}" if severity else f"{category}: {'yes' if flagged else 'no'}"
        color = DANGER if flagged or severity in ("medium", "high") else SUCCESS
        chips.append(badge(label, color))
    return f'<div style="margin-top:4px"><span style="color:{MUTED}">{e(title)}</span>{"".join(chips)}</div>'


def safety_html(result: Any) -> str:
    """A safety check or evaluation: passed or the failed categories, then each category's verdict."""
    r = result
    verdict = badge("passed", SUCCESS) if r.passed else badge("failed", DANGER)
    failed = "".join(chip(c) for c in r.failed_categories)
    body = rows([("input", e(r.input) if r.input else ""), ("model", e(r.model)), ("template", e(r.template)),
                  ("failed", failed)])
    body += _safety_html(r.content_filter_results, "completion")
    for prompt in r.prompt_filter_results or []:
        body += _safety_html(prompt.get("content_filter_results"), f"prompt {prompt.get('prompt_index', 0)}")
    if r.content_filter_results is None and not r.prompt_filter_results and r.details is not None:
        body += _safety_html(r.details.choice, "merged")
        for prompt in r.details.prompt:
            body += _safety_html(prompt["results"], f"prompt {prompt.get('prompt_index', 0)}")
    return card(type(r).__name__, r.template, body, badges=verdict)


def _usage_html(usage: Any) -> str:
    if usage is None:
        return ""
    return e(f"{usage.tokens_in} in, {usage.tokens_out} out" + (f", {usage.total_tokens} total"
                                                                   if usage.total_tokens is not None else ""))


def chat_html(completion: Any) -> str:
    c = completion
    body = rows([("model", e(c.model)), ("usage", _usage_html(c.usage))])
    for choice in c.choices:
        content = choice.message.content
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        head = f"choice {choice.index} · {choice.message.role}"
        if choice.finish_reason:
            head += f" · finish: {choice.finish_reason}"
        body += heading(head) + pre(content)
        if choice.message.refusal:
            body += f'<div style="color:{DANGER}">refusal: {e(choice.message.refusal)}</div>'
        body += _safety_html(choice.content_filter_results, "completion safety")
    for prompt in c.prompt_filter_results or []:
        body += _safety_html(prompt.get("content_filter_results"), f"prompt {prompt.get('prompt_index', 0)} safety")
    return card("ChatCompletion", c.id, body)


def response_html(response: Any) -> str:
    r = response
    body = rows([("model", e(r.model)), ("usage", _usage_html(r.usage)),
                  ("error", f'<span style="color:{DANGER}">{e(r.error)}</span>' if r.error else "")])
    for i, item in enumerate(r.output):
        texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        head = f"output {i} · {item.get('type', '')}" + (f" · {item['role']}" if item.get("role") else "")
        body += heading(head) + pre("".join(texts))
    for entry in r.content_filters or []:
        title = f"{entry.get('source_type', '')} safety" + (" (blocked)" if entry.get("blocked") else "")
        body += _safety_html(entry.get("content_filter_results"), title)
    badges = badge(r.status) if r.status else ""
    return card("Response", r.id, body, badges=badges)


def page_html(page: Any) -> str:
    head = "".join(f'<th style="{TH}">{h}</th>' for h in ("id", "model", "status", "created", "predict time",
                                                             "output"))
    rows = []
    for p in page.data:
        first = p.outputs[0] if p.outputs else None
        preview = media_html(first, px=48) if first and media_kind(first) == "image" else e(short(first or "", 40))
        status = str(getattr(p.status, "value", p.status))
        rows.append(
            f'<tr><td style="{TD};font-family:ui-monospace,monospace;padding-right:10px">{e(p.id)}</td>'
            f'<td style="{TD};padding-right:10px">{e(p.model)}</td>'
            f'<td style="{TD};padding-right:10px;color:{STATUS_COLORS.get(status, WARNING)}">{e(status)}</td>'
            f'<td style="{TD};padding-right:10px">{when(p.created_at)}</td>'
            f'<td style="{TD};padding-right:10px">{seconds(p.metrics.predict_time)}</td>'
            f'<td style="{TD}">{preview}</td></tr>')
    secret = secret_of(page.data[0]) if page.data else None
    return _page_card("PredictionPage", "predictions", page, head, rows, secret=secret)


def model_page_html(page: Any) -> str:
    head = "".join(f'<th style="{TH}">{h}</th>' for h in ("slug", "type", "price", "capabilities"))
    rows = []
    for m in page.data:
        price = (f"{m.pricing.amount:g} {m.pricing.currency or ''}/{m.pricing.unit or '?'}"
                 if m.pricing and m.pricing.amount is not None else "")
        rows.append(f'<tr><td style="{TD};font-family:ui-monospace,monospace;padding-right:10px">{e(m.slug)}</td>'
                    f'<td style="{TD};padding-right:10px">{e(m.type)}</td>'
                    f'<td style="{TD};padding-right:10px">{e(price)}</td>'
                    f'<td style="{TD}">{"".join(chip(c) for c in m.capabilities)}</td></tr>')
    return _page_card("ModelPage", "models", page, head, rows)


def _page_card(kind: str, noun: str, page: Any, head: str, rows: list[str], secret: Any = None) -> str:
    """One page of a listing: its count, its table, and "page n/last" in the title."""
    last = f"/{page.last_page}" if page.last_page is not None else ""
    total = f", {page.total} in all" if page.total is not None else ""
    body = (f'<div style="color:{MUTED}">{len(page.data)} {noun}{e(total)}</div>'
            f'<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>{head}</tr>'
            f'{"".join(rows)}</table>')
    return card(kind, f"page {page.current_page}{last}", body, secret=secret)


def error_html(error: Any) -> str:
    """An api error as the one error card (the API key of a failed prediction's client masked)."""
    return error_card(error, secret=secret_of(getattr(error, "prediction", None)))


def embedding_html(response: Any) -> str:
    vectors = getattr(response, "vectors", None)
    shape = getattr(vectors, "shape", None)
    pairs = [("model", e(response.model)), ("vectors", e(f"{shape[0]} × {shape[1]} float32" if shape else "")),
            ("usage", _usage_html(response.usage))]
    return card("EmbeddingResponse", "", rows(pairs))


