"""HTML cards for the client's results, inline media, and the captioned image grid ``show_images``.

Each ``*_html`` function returns a self-contained HTML fragment (inline styles only, so it survives
JupyterLab, VS Code, nbconvert and the docs site). Cards never contain the API key: values are escaped,
and whatever key the object's client holds is masked from the finished HTML as a last guard.
"""

from __future__ import annotations

import base64
import html
import io
import json
import mimetypes
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ImageGrid",
    "chat_html",
    "embedding_html",
    "error_html",
    "is_media_uri",
    "media_html",
    "model_html",
    "model_page_html",
    "page_html",
    "prediction_html",
    "response_html",
    "safety_html",
    "show_images",
    "thumbnail_html",
]

THUMB_PX = 96
OUTPUT_PX = 256
MAX_INLINE_OUTPUTS = 4

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
_AUDIO_EXT = {".mp3", ".wav", ".ogg", ".flac", ".m4a", ".aac", ".opus"}
_VIDEO_EXT = {".mp4", ".webm", ".mov", ".m4v"}
_STATUS_COLORS = {
    "succeeded": "#1a7f37", "completed": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
    "canceled": "#6e7781", "operational": "#1a7f37", "offline": "#cf222e",
}
_BOX = ("font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45;"
        "border:1px solid #d0d7de;border-radius:8px;padding:10px 12px;margin:4px 0;max-width:900px;"
        "background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color0,#1f2328)")
_TH = "text-align:left;padding:2px 10px 2px 0;color:#57606a;font-weight:500;vertical-align:top;white-space:nowrap"
_TD = "text-align:left;padding:2px 0;vertical-align:top"


# --------------------------------------------------------------------------- building blocks


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _badge(text: Any, color: str | None = None) -> str:
    color = color or _STATUS_COLORS.get(str(text).lower(), "#9a6700")
    return (f'<span style="display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;'
            f'border:1px solid {color};color:{color};margin-left:6px">{_e(text)}</span>')


def _chip(text: Any) -> str:
    return (f'<span style="display:inline-block;padding:0 6px;margin:1px 3px 1px 0;border-radius:4px;'
            f'background:#eaeef2;color:#24292f;font-size:11px">{_e(text)}</span>')


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table; row values are HTML already (escape with _e first)."""
    body = "".join(f'<tr><th style="{_TH}">{_e(k)}</th><td style="{_TD}">{v}</td></tr>'
                   for k, v in rows if v not in (None, ""))
    return f'<table style="border-collapse:collapse;margin-top:4px">{body}</table>' if body else ""


def _card(kind: str, title: str, badges: str, body: str, secret: str | None = None) -> str:
    out = (f'<div class="skytells-card skytells-{_e(kind.lower())}" style="{_BOX}">'
           f'<div><span style="color:#57606a">{_e(kind)}</span> '
           f'<b style="font-family:ui-monospace,monospace">{_e(title)}</b>{badges}</div>{body}</div>')
    return _mask(out, secret)


def _mask(text: str, secret: str | None) -> str:
    if secret:
        for form in {secret, html.escape(secret, quote=True)}:
            text = text.replace(form, "***")
    return text


def _secret_of(obj: Any) -> str | None:
    client = getattr(obj, "_client", None)
    key = getattr(client, "_api_key", None)
    return key.get() if hasattr(key, "get") else None


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return _e(value.isoformat(sep=" ", timespec="seconds"))
    return _e(value)


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f} s"


def _pre(text: Any, limit: int = 4000) -> str:
    text = "" if text is None else str(text)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    return (f'<div style="white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px;'
            f'background:#f6f8fa;color:#1f2328;border-radius:6px;padding:6px 8px;margin:4px 0">{_e(text)}</div>')


def _json_pre(value: Any) -> str:
    return _pre(json.dumps(value, indent=2, default=str, ensure_ascii=False), limit=2000)


# --------------------------------------------------------------------------- media


def media_kind(uri: str, mime: str | None = None) -> str | None:
    """"image" | "audio" | "video" for a data URI or URL that looks like media, else None."""
    if not isinstance(uri, str):
        return None
    if uri.startswith("data:"):
        mime = uri[5:].split(";", 1)[0].split(",", 1)[0]
    elif mime is None and uri.startswith(("http://", "https://")):
        path = urlsplit(uri).path.lower()
        ext = path[path.rfind("."):] if "." in path.rsplit("/", 1)[-1] else ""
        if ext in _IMAGE_EXT:
            return "image"
        if ext in _AUDIO_EXT:
            return "audio"
        if ext in _VIDEO_EXT:
            return "video"
        mime = mimetypes.guess_type(path)[0]
    top = (mime or "").split("/", 1)[0].lower()
    return top if top in ("image", "audio", "video") else None


def is_media_uri(value: Any) -> bool:
    return isinstance(value, str) and media_kind(value) is not None


def _data_uri_bytes(uri: str) -> tuple[str, bytes] | None:
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        return None
    mime = header.split(";", 1)[0] or "text/plain"
    try:
        data = base64.b64decode(payload) if ";base64" in header else payload.encode()
    except ValueError:
        return None
    return mime, data


def _pil_thumbnail_uri(image: Any, px: int) -> str:
    """A PIL image shrunk to fit px x px, as a PNG (or JPEG for photos) data URI."""
    thumb = image.copy()
    thumb.thumbnail((px, px))
    if thumb.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        thumb = thumb.convert("RGB")
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(src: str, px: int, title: str = "") -> str:
    return (f'<img src="{_e(src)}" title="{_e(title)}" style="max-width:{px}px;max-height:{px}px;'
            f'border-radius:4px;border:1px solid #d0d7de;image-rendering:pixelated;margin:2px" '
            f'loading="lazy"/>')


def media_html(uri: str, *, px: int = OUTPUT_PX, kind: str | None = None) -> str:
    """An <img>, <audio> or <video> element for a URL or data URI (a link for anything else)."""
    kind = kind or media_kind(uri)
    if kind == "image":
        return _img(uri, px)
    if kind == "audio":
        return f'<audio controls preload="none" src="{_e(uri)}" style="max-width:{max(px, 240)}px"></audio>'
    if kind == "video":
        return (f'<video controls preload="metadata" src="{_e(uri)}" '
                f'style="max-width:{max(px, 320)}px;max-height:{max(px, 240)}px"></video>')
    return f'<a href="{_e(uri)}" target="_blank">{_e(_short(uri))}</a>'


def thumbnail_html(value: Any, px: int = THUMB_PX) -> str:
    """A small preview of a media input: images are downscaled into the page, audio gets a player."""
    if not isinstance(value, str):
        return _e(value)
    kind = media_kind(value)
    if kind == "image" and value.startswith("data:"):
        decoded = _data_uri_bytes(value)
        if decoded is not None:
            try:
                from PIL import Image

                with Image.open(io.BytesIO(decoded[1])) as image:
                    label = f"{decoded[0]}, {image.width}×{image.height}, {len(decoded[1]):,} bytes"
                    return _img(_pil_thumbnail_uri(image, px), px, title=label)
            except (OSError, ValueError, SyntaxError):  # PIL cannot read it: let the browser try
                return _img(value, px)
        return _img(value, px)
    if kind is not None:
        return media_html(value, px=px, kind=kind)
    return _e(_short(value))


def _short(text: str, n: int = 80) -> str:
    if text.startswith("data:"):
        head = text.split(",", 1)[0]
        return f"{head},… ({len(text):,} chars)"
    return text if len(text) <= n else text[: n - 1] + "…"


def _output_kind(url: str, model_type: str | None) -> str | None:
    return media_kind(url) or (model_type if model_type in ("image", "audio", "video") else None)


def _outputs_html(prediction: Any) -> str:
    urls = list(getattr(prediction, "outputs", None) or [])
    if not urls:
        output = getattr(prediction, "output", None)
        return _json_pre(output) if output not in (None, [], {}) else ""
    model_type = getattr(prediction, "model_type", None)
    kinds = [_output_kind(u, model_type) for u in urls]
    inline: dict[int, str] = {}
    if "image" in kinds and getattr(prediction, "_client", None) is not None:
        try:  # fetch through the client so the picture is in the notebook, not a link that expires
            for i, image in enumerate(prediction.images()[:MAX_INLINE_OUTPUTS]):
                inline[i] = _img(_pil_thumbnail_uri(image, OUTPUT_PX), OUTPUT_PX, title=urls[i] if i < len(urls) else "")
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
        parts.append(f'<span style="color:#57606a">+{more} more</span>')
    return '<div style="display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start">' + "".join(parts) + "</div>"


def _input_html(values: dict) -> str:
    rows = []
    for key, value in values.items():
        if is_media_uri(value):
            rows.append((key, thumbnail_html(value)))
        elif isinstance(value, list) and value and all(is_media_uri(v) for v in value):
            rows.append((key, "".join(thumbnail_html(v) for v in value)))
        elif isinstance(value, (dict, list)):
            rows.append((key, _e(_short(json.dumps(value, default=str), 200))))
        else:
            rows.append((key, _e(_short(str(value), 300)) if value is not None else "null"))
    return _rows(rows)


# --------------------------------------------------------------------------- cards


def prediction_html(prediction: Any) -> str:
    p = prediction
    status = str(getattr(p.status, "value", p.status))
    metrics = p.metrics
    progress = getattr(metrics, "progress", None)
    badges = _badge(status)
    if progress is not None and not p.is_terminal:
        badges += _badge(f"{float(progress):.0f}%", "#0969da")
    rows = [
        ("model", _e(p.model) + (f' <span style="color:#57606a">({_e(p.model_type)})</span>' if p.model_type else "")),
        ("created", _when(p.created_at)),
        ("started", _when(p.started_at)),
        ("completed", _when(p.completed_at)),
        ("predict time", _seconds(metrics.predict_time)),
        ("total time", _seconds(metrics.total_time)),
        ("credits", "" if p.credits_used is None else _e(f"{p.credits_used:g}")),
        ("error", f'<span style="color:#cf222e">{_e(p.error)}</span>' if p.error else ""),
        ("note", _e(p.message) if p.message else ""),
        ("webhook", _e(_webhook_url(p.webhook))),
    ]
    body = _rows(rows)
    if p.input:
        body += '<div style="margin-top:6px;color:#57606a">input</div>' + _input_html(p.input)
    outputs = _outputs_html(p)
    if outputs:
        body += '<div style="margin-top:6px;color:#57606a">output</div>' + outputs
    return _card("Prediction", p.id, badges, body, _secret_of(p))


def _webhook_url(webhook: Any) -> str | None:
    if isinstance(webhook, dict):
        return webhook.get("url")
    return webhook if isinstance(webhook, str) else None


def model_html(model: Any) -> str:
    m = model
    pricing = m.pricing
    price = ""
    if pricing is not None and pricing.amount is not None:
        price = _e(f"{pricing.amount:g} {pricing.currency or ''} / {pricing.unit or '?'}")
    vendor = (m.vendor or {}).get("name") if isinstance(m.vendor, dict) else None
    flags = [k for k in ("openai_compatible", "edge_compatible", "cold_boot") if (m.metadata or {}).get(k)]
    rows = [
        ("name", _e(m.name)),
        ("type", _e(m.type)),
        ("description", _e(m.description)),
        ("vendor", _e(vendor)),
        ("pricing", price),
        ("capabilities", "".join(_chip(c) for c in m.capabilities)),
        ("flags", "".join(_chip(f) for f in flags)),
        ("device", _e((m.metadata or {}).get("device"))),
    ]
    body = _rows(rows) + _schema_html(m.input_schema)
    badges = _badge(m.status) if m.status else ""
    return _card("Model", m.slug, badges, body)


def _schema_html(schema: dict | None) -> str:
    props = (schema or {}).get("properties") or {}
    if not props:
        return ""
    required = set((schema or {}).get("required") or [])
    order = sorted(props, key=lambda k: (props[k].get("x-order", 1e9), k))
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in ("input", "type", "default", "description"))
    rows = []
    for name in order:
        prop = props[name]
        kind = prop.get("type", "")
        if prop.get("format"):
            kind = f"{kind} ({prop['format']})"
        if prop.get("enum"):
            kind += " ∈ " + ", ".join(map(str, prop["enum"]))
        label = f"<b>{_e(name)}</b>" if name in required else _e(name)
        rows.append(f'<tr><td style="{_TD};padding-right:10px">{label}</td><td style="{_TD};padding-right:10px">'
                    f'{_e(kind)}</td><td style="{_TD};padding-right:10px">{_e(prop.get("default", ""))}</td>'
                    f'<td style="{_TD}">{_e(prop.get("description", ""))}</td></tr>')
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
        color = "#cf222e" if flagged or severity in ("medium", "high") else "#1a7f37"
        chips.append(_badge(label, color))
    return f'<div style="margin-top:4px"><span style="color:#57606a">{_e(title)}</span>{"".join(chips)}</div>'


def safety_html(result: Any) -> str:
    """A safety check or evaluation: passed or the failed categories, then each category's verdict."""
    r = result
    badge = _badge("passed", "#1a7f37") if r.passed else _badge("failed", "#cf222e")
    failed = "".join(_chip(c) for c in r.failed_categories)
    body = _rows([("input", _e(r.input) if r.input else ""), ("model", _e(r.model)), ("template", _e(r.template)),
                  ("failed", failed)])
    body += _safety_html(r.content_filter_results, "completion")
    for prompt in r.prompt_filter_results or []:
        body += _safety_html(prompt.get("content_filter_results"), f"prompt {prompt.get('prompt_index', 0)}")
    if r.content_filter_results is None and not r.prompt_filter_results and r.details is not None:
        body += _safety_html(r.details.choice, "merged")
        for prompt in r.details.prompt:
            body += _safety_html(prompt["results"], f"prompt {prompt.get('prompt_index', 0)}")
    return _card(type(r).__name__, r.template, badge, body)


def _usage_html(usage: Any) -> str:
    if usage is None:
        return ""
    return _e(f"{usage.tokens_in} in, {usage.tokens_out} out" + (f", {usage.total_tokens} total"
                                                                   if usage.total_tokens is not None else ""))


def chat_html(completion: Any) -> str:
    c = completion
    body = _rows([("model", _e(c.model)), ("usage", _usage_html(c.usage))])
    for choice in c.choices:
        content = choice.message.content
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        head = f"choice {choice.index} · {choice.message.role}"
        if choice.finish_reason:
            head += f" · finish: {choice.finish_reason}"
        body += f'<div style="margin-top:6px;color:#57606a">{_e(head)}</div>' + _pre(content)
        if choice.message.refusal:
            body += f'<div style="color:#cf222e">refusal: {_e(choice.message.refusal)}</div>'
        body += _safety_html(choice.content_filter_results, "completion safety")
    for prompt in c.prompt_filter_results or []:
        body += _safety_html(prompt.get("content_filter_results"), f"prompt {prompt.get('prompt_index', 0)} safety")
    return _card("ChatCompletion", c.id, "", body)


def response_html(response: Any) -> str:
    r = response
    body = _rows([("model", _e(r.model)), ("usage", _usage_html(r.usage)),
                  ("error", f'<span style="color:#cf222e">{_e(r.error)}</span>' if r.error else "")])
    for i, item in enumerate(r.output):
        texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        head = f"output {i} · {item.get('type', '')}" + (f" · {item['role']}" if item.get("role") else "")
        body += f'<div style="margin-top:6px;color:#57606a">{_e(head)}</div>' + _pre("".join(texts))
    for entry in r.content_filters or []:
        title = f"{entry.get('source_type', '')} safety" + (" (blocked)" if entry.get("blocked") else "")
        body += _safety_html(entry.get("content_filter_results"), title)
    badges = _badge(r.status) if r.status else ""
    return _card("Response", r.id, badges, body)


def page_html(page: Any) -> str:
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in ("id", "model", "status", "created", "predict time",
                                                             "output"))
    rows = []
    for p in page.data:
        first = p.outputs[0] if p.outputs else None
        preview = media_html(first, px=48) if first and media_kind(first) == "image" else _e(_short(first or "", 40))
        status = str(getattr(p.status, "value", p.status))
        rows.append(
            f'<tr><td style="{_TD};font-family:ui-monospace,monospace;padding-right:10px">{_e(p.id)}</td>'
            f'<td style="{_TD};padding-right:10px">{_e(p.model)}</td>'
            f'<td style="{_TD};padding-right:10px;color:{_STATUS_COLORS.get(status, "#9a6700")}">{_e(status)}</td>'
            f'<td style="{_TD};padding-right:10px">{_when(p.created_at)}</td>'
            f'<td style="{_TD};padding-right:10px">{_seconds(p.metrics.predict_time)}</td>'
            f'<td style="{_TD}">{preview}</td></tr>')
    last = f"/{page.last_page}" if page.last_page is not None else ""
    total = f", {page.total} in all" if page.total is not None else ""
    body = (f'<div style="color:#57606a">{len(page.data)} predictions{_e(total)}</div>'
            f'<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>{head}</tr>'
            f'{"".join(rows)}</table>')
    secret = _secret_of(page.data[0]) if page.data else None
    return _card("PredictionPage", f"page {page.current_page}{last}", "", body, secret)


def model_page_html(page: Any) -> str:
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in ("slug", "type", "price", "capabilities"))
    rows = []
    for m in page.data:
        price = (f"{m.pricing.amount:g} {m.pricing.currency or ''}/{m.pricing.unit or '?'}"
                 if m.pricing and m.pricing.amount is not None else "")
        rows.append(f'<tr><td style="{_TD};font-family:ui-monospace,monospace;padding-right:10px">{_e(m.slug)}</td>'
                    f'<td style="{_TD};padding-right:10px">{_e(m.type)}</td>'
                    f'<td style="{_TD};padding-right:10px">{_e(price)}</td>'
                    f'<td style="{_TD}">{"".join(_chip(c) for c in m.capabilities)}</td></tr>')
    last = f"/{page.last_page}" if page.last_page is not None else ""
    total = f", {page.total} in all" if page.total is not None else ""
    body = (f'<div style="color:#57606a">{len(page.data)} models{_e(total)}</div>'
            f'<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>{head}</tr>'
            f'{"".join(rows)}</table>')
    return _card("ModelPage", f"page {page.current_page}{last}", "", body)


def error_html(error: Any) -> str:
    rows = [
        ("error id", _e(getattr(error, "error_id", None))),
        ("HTTP status", _e(getattr(error, "http_status", None))),
        ("message", _e(getattr(error, "message", str(error)))),
        ("request id", _e(getattr(error, "request_id", None))),
        ("retry after", _seconds(getattr(error, "retry_after", None))),
        ("prediction", _e(getattr(getattr(error, "prediction", None), "id", None))),
    ]
    body = _rows(rows)
    details = getattr(error, "details", None)
    if details not in (None, "", {}, []):
        body += _json_pre(details)
    secret = _secret_of(getattr(error, "prediction", None))
    return _card(type(error).__name__, "", _badge("error", "#cf222e"), body, secret)


def embedding_html(response: Any) -> str:
    vectors = getattr(response, "vectors", None)
    shape = getattr(vectors, "shape", None)
    rows = [("model", _e(response.model)), ("vectors", _e(f"{shape[0]} × {shape[1]} float32" if shape else "")),
            ("usage", _usage_html(response.usage))]
    return _card("EmbeddingResponse", "", "", _rows(rows))


def cache_html(cache: Any) -> str:
    stats = cache.stats()
    rows = [("path", _e(stats["path"])), ("entries", _e(", ".join(f"{k}: {v}" for k, v in stats["entries"].items())
                                                     or "0")),
            ("size", _e(f"{stats['bytes'] / 1e6:.2f} MB")), ("this session", _e(f"{stats['hits']} hits, "
                                                                                 f"{stats['misses']} misses"))]
    return _card("Cache", "", _badge("on" if stats["enabled"] else "off", "#1a7f37" if stats["enabled"]
                                      else "#6e7781"), _rows(rows))


def ledger_html(ledger: Any) -> str:
    summary = ledger.summary()
    table = summary.to_html(float_format=lambda v: f"{v:.4g}", na_rep="", border=0) if len(summary) else ""
    return _card("Ledger", f"{len(ledger)} calls", _badge(f"{ledger.credits():.4g} credits", "#0969da"), table)


def budget_html(budget: Any) -> str:
    share = 0.0 if budget.limit == 0 else min(budget.spent / budget.limit, 1.0)
    color = "#cf222e" if share >= 0.9 else "#9a6700" if share >= 0.6 else "#1a7f37"
    bar = (f'<div style="width:240px;height:8px;background:#eaeef2;border-radius:4px;margin-top:6px">'
           f'<div style="width:{share * 100:.1f}%;height:8px;background:{color};border-radius:4px"></div></div>')
    rows = [("spent", _e(f"{budget.spent:.6g}")), ("remaining", _e(f"{budget.remaining:.6g}")),
            ("refused calls", _e(budget.refused))]
    return _card("Budget", f"{budget.limit:g} credits", "", bar + _rows(rows))


# --------------------------------------------------------------------------- image grid


class ImageGrid:
    """A captioned grid of images; displays itself in a notebook, one line in a terminal."""

    def __init__(self, sources: list[str], captions: list[str], columns: int, size: int) -> None:
        self.sources, self.captions, self.columns, self.size = sources, captions, columns, size

    def __len__(self) -> int:
        return len(self.sources)

    def __repr__(self) -> str:
        return f"ImageGrid({len(self.sources)} images, {self.columns} columns)"

    def _repr_html_(self) -> str:
        cells = []
        for src, caption in zip(self.sources, self.captions):
            element = media_html(src, px=self.size)
            cells.append(f'<figure style="margin:0;text-align:center">{element}'
                         f'<figcaption style="font-size:12px;color:#57606a;max-width:{self.size}px;'
                         f'overflow-wrap:anywhere">{_e(caption)}</figcaption></figure>')
        return (f'<div class="skytells-grid" style="display:grid;grid-template-columns:repeat({self.columns},'
                f'max-content);gap:8px;align-items:start">{"".join(cells)}</div>')


def show_images(images_or_predictions: Any, captions: Sequence[str] | None = None, columns: int = 4, *,
                size: int = OUTPUT_PX) -> ImageGrid:
    """Lay out images in a captioned grid: PIL images, numpy arrays, Predictions (each output), URLs,
    data URIs, file paths or bytes. Returns an :class:`ImageGrid`, which the notebook displays."""
    items = images_or_predictions
    if not isinstance(items, (list, tuple)) and not _is_page(items):
        items = [items]
    sources: list[str] = []
    default_captions: list[str] = []
    for item in items:
        for src, caption in _image_sources(item, size):
            sources.append(src)
            default_captions.append(caption)
    if captions is None:
        captions = default_captions
    else:
        captions = [str(c) for c in captions]
        if len(captions) != len(sources):
            raise ValueError(f"{len(captions)} captions for {len(sources)} images")
    return ImageGrid(sources, list(captions), max(1, int(columns)), size)


def _is_page(obj: Any) -> bool:
    return hasattr(obj, "data") and hasattr(obj, "current_page")


def _image_sources(item: Any, size: int) -> list[tuple[str, str]]:
    from pathlib import Path

    if hasattr(item, "outputs") and hasattr(item, "status"):  # a Prediction
        label = f"{item.model} · {item.id[:8]}"
        try:
            images = item.images() if item.outputs else []
            return [(_pil_thumbnail_uri(im, size * 2), label) for im in images]
        except Exception:  # noqa: BLE001 - unfetchable: let the browser load the URLs
            return [(u, label) for u in item.outputs]
    if _is_page(item):
        return [s for p in item.data for s in _image_sources(p, size)]
    if hasattr(item, "save") and hasattr(item, "size"):  # PIL
        return [(_pil_thumbnail_uri(item, size * 2), f"{item.width}×{item.height}")]
    if hasattr(item, "__array__") and hasattr(item, "shape"):
        from skytells_lab.api._media import array_to_image

        image = array_to_image(item)
        return [(_pil_thumbnail_uri(image, size * 2), f"{image.width}×{image.height}")]
    if isinstance(item, (bytes, bytearray)):
        from PIL import Image

        with Image.open(io.BytesIO(bytes(item))) as image:
            return [(_pil_thumbnail_uri(image, size * 2), f"{image.width}×{image.height}")]
    if isinstance(item, Path) or (isinstance(item, str) and not item.startswith(("http://", "https://", "data:"))):
        from PIL import Image

        with Image.open(item) as image:
            return [(_pil_thumbnail_uri(image, size * 2), Path(item).name)]
    if isinstance(item, str):
        return [(item, _short(item.rsplit("/", 1)[-1], 40) if not item.startswith("data:") else "")]
    raise TypeError(f"show_images cannot show a {type(item).__name__}")


def inbox_html(inbox: Any) -> str:
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in ("received", "type", "prediction", "status", "verified"))
    rows = "".join(
        f'<tr><td style="{_TD};padding-right:10px">{_when(e.received_at)}</td>'
        f'<td style="{_TD};padding-right:10px">{_e(e.type)}</td>'
        f'<td style="{_TD};padding-right:10px;font-family:ui-monospace,monospace">{_e(e.prediction_id)}</td>'
        f'<td style="{_TD};padding-right:10px">{_e(e.status)}</td><td style="{_TD}">{"✓" if e.verified else "–"}'
        f'</td></tr>' for e in list(inbox.events)[-20:])
    table = f'<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>{head}</tr>{rows}</table>'
    badges = _badge(f"{len(inbox.events)} events", "#0969da") + (
        _badge(f"{inbox.rejected} rejected", "#cf222e") if inbox.rejected else "")
    return _card("WebhookInbox", inbox.url, badges, table if inbox.events else "")
