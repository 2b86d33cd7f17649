"""The HTML card kit every ``_repr_html_`` and widget uses: one palette, one card, rows, badges, tables,
media elements and thumbnails, and the one error card.

Floor 1: the standard library only. Every function returns a self-contained fragment (inline styles only,
so it survives JupyterLab, VS Code, nbconvert and the docs site); text is escaped here, so callers pass
plain values except where a parameter says it takes HTML. An image for :func:`thumbnail_uri` is any
PIL-like object (``copy``/``thumbnail``/``resize``/``save``); nothing here imports PIL.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from skytells_lab._media import media_kind

__all__ = [
    "ACCENT",
    "BORDER",
    "DANGER",
    "MUTED",
    "NEUTRAL",
    "STATUS_COLORS",
    "SUCCESS",
    "WARNING",
    "badge",
    "card",
    "chip",
    "e",
    "error_card",
    "facts",
    "heading",
    "img",
    "json_pre",
    "mask",
    "media_html",
    "pre",
    "rows",
    "seconds",
    "short",
    "table",
    "thumbnail",
    "thumbnail_uri",
    "when",
]

# --------------------------------------------------------------------------- the palette (GitHub Primer)

SUCCESS = "#1a7f37"
DANGER = "#cf222e"
NEUTRAL = "#6e7781"
WARNING = "#9a6700"
ACCENT = "#0969da"
MUTED = "#57606a"
BORDER = "#d0d7de"
RULE = "#eaeef2"
CODE_BG = "#f6f8fa"
STATUS_COLORS = {
    "succeeded": SUCCESS, "completed": SUCCESS, "pass": SUCCESS, "failed": DANGER, "fail": DANGER,
    "error": DANGER, "cancelled": NEUTRAL, "canceled": NEUTRAL, "operational": SUCCESS, "offline": DANGER,
}

_BOX = ("font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45;"
        f"border:1px solid {BORDER};border-radius:8px;padding:10px 12px;margin:4px 0;max-width:900px;"
        "overflow-x:auto;background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color0,#1f2328)")
TH = f"text-align:left;padding:2px 10px 2px 0;color:{MUTED};font-weight:500;vertical-align:top;white-space:nowrap"
TD = "text-align:left;padding:2px 0;vertical-align:top"
_TABLE = "border-collapse:collapse;margin-top:4px;font-size:12px"
_COL_TH = f"text-align:left;padding:3px 8px;border-bottom:1px solid {BORDER};background:{CODE_BG}"
_COL_TD = f"text-align:left;padding:3px 8px;border-bottom:1px solid {RULE};vertical-align:top"


# --------------------------------------------------------------------------- text


def e(value: Any) -> str:
    """Escaped text of any value ('' for None)."""
    return html.escape("" if value is None else str(value), quote=True)


def short(text: str, n: int = 80) -> str:
    """``text`` clipped to ``n`` characters; a data URI as its header and length."""
    if text.startswith("data:"):
        head = text.split(",", 1)[0]
        return f"{head},… ({len(text):,} chars)"
    return text if len(text) <= n else text[: n - 1] + "…"


def when(value: Any) -> str:
    """A timestamp to the second, escaped."""
    if isinstance(value, datetime):
        return e(value.isoformat(sep=" ", timespec="seconds"))
    return e(value)


def seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f} s"


def mask(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (and its escaped form) replaced by ``***``: the last guard for API keys."""
    if secret:
        for form in {secret, html.escape(secret, quote=True)}:
            text = text.replace(form, "***")
    return text


# --------------------------------------------------------------------------- pieces


def badge(text: Any, color: str | None = None, *, css_class: str | None = None) -> str:
    """A rounded outlined label; the colour follows the status words (succeeded, failed...) unless given.
    ``css_class`` names it for tests and style sheets (``sl-badge-type``)."""
    color = color or STATUS_COLORS.get(str(text).lower(), WARNING)
    named = f' class="sl-badge {e(css_class)}"' if css_class else ""
    return (f'<span{named} style="display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;'
            f'border:1px solid {color};color:{color};margin-left:6px">{e(text)}</span>')


def chip(text: Any) -> str:
    """A small grey tag (a capability, a flag, a category)."""
    return (f'<span style="display:inline-block;padding:0 6px;margin:1px 3px 1px 0;border-radius:4px;'
            f'background:{RULE};color:#24292f;font-size:11px">{e(text)}</span>')


def heading(text: str) -> str:
    """A section title inside a card."""
    return f'<div style="margin-top:6px;color:{MUTED}">{e(text)}</div>'


def rows(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML already (escape them with :func:`e`), empty ones left out."""
    body = "".join(f'<tr><th style="{TH}">{e(k)}</th><td style="{TD}">{v}</td></tr>'
                   for k, v in pairs if v not in (None, ""))
    return f"<table>{body}</table>" if body else ""


def facts(pairs: Iterable[tuple[str, Any]]) -> str:
    """:func:`rows` for plain values (escaped here), shown in monospace."""
    return rows((k, f'<span style="font-family:ui-monospace,monospace">{e(v)}</span>') for k, v in pairs)


def table(columns: Iterable[Any], body: Iterable[Iterable[Any]], *, escape_cells: bool = True) -> str:
    """A table with a header row; cells are escaped unless ``escape_cells=False`` (they are HTML already)."""
    head = "".join(f'<th style="{_COL_TH}">{e(c)}</th>' for c in columns)
    cells = "".join("<tr>" + "".join(f'<td style="{_COL_TD}">{e(c) if escape_cells else c}</td>' for c in row)
                    + "</tr>" for row in body)
    return f'<table style="{_TABLE}"><tr>{head}</tr>{cells}</table>'


def pre(text: Any, limit: int = 4000) -> str:
    """Preformatted text (model output, JSON), clipped to ``limit`` characters."""
    text = "" if text is None else str(text)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    return (f'<div style="white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px;'
            f'background:{CODE_BG};color:#1f2328;border-radius:6px;padding:6px 8px;margin:4px 0">{e(text)}</div>')


def json_pre(value: Any) -> str:
    return pre(json.dumps(value, indent=2, default=str, ensure_ascii=False), limit=2000)


def card(kind: str, title: str = "", body: str = "", *, badges: str = "", secret: str | None = None) -> str:
    """The one card: ``kind`` (what it is), a monospace ``title`` (which one), ``badges`` and ``body`` (HTML).

    ``secret`` (an API key) is masked from the finished HTML.
    """
    name = f'<b style="font-family:ui-monospace,monospace">{e(title)}</b>' if title else ""
    out = (f'<div class="skytells-card skytells-{e(kind.lower().replace(" ", "-"))}" style="{_BOX}">'
           f'<div><span style="color:{MUTED}">{e(kind)}</span> {name}{badges}</div>{body}</div>')
    return mask(out, secret)


def error_card(error: BaseException, *, title: str | None = None, secret: str | None = None) -> str:
    """The one card for a failed call, in a cell and in a widget alike: what happened, the API's error id,
    HTTP status, request id, what to do (``details["hint"]``) and the rest of the details."""
    details = getattr(error, "details", None)
    hint = (details.get("hint") or details.get("help")) if isinstance(details, dict) else None
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    body = rows([
        ("message", f'<span style="white-space:pre-wrap">{e(message)}</span>'),
        ("error id", e(getattr(error, "error_id", None))),
        ("HTTP status", e(getattr(error, "http_status", None))),
        ("request id", e(getattr(error, "request_id", None))),
        ("retry after", seconds(getattr(error, "retry_after", None))),
        ("prediction", e(getattr(getattr(error, "prediction", None), "id", None))),
        ("what to do", e(hint)),
    ])
    if details not in (None, "", {}, []):
        body += json_pre(details)
    kind = title or type(error).__name__
    out = card(kind, "", body, badges=badge("error", DANGER), secret=secret)
    return out.replace('<div class="skytells-card ', '<div class="sl-error-card skytells-card ', 1)


# --------------------------------------------------------------------------- media


def img(src: str, px: int, title: str = "") -> str:
    """An ``<img>`` fitting ``px`` × ``px``, pixels kept crisp when scaled up."""
    return (f'<img src="{e(src)}" title="{e(title)}" style="max-width:{px}px;max-height:{px}px;'
            f'border-radius:4px;border:1px solid {BORDER};image-rendering:pixelated;margin:2px" '
            f'loading="lazy"/>')


def media_html(uri: str, *, px: int = 256, kind: str | None = None) -> str:
    """An <img>, <audio> or <video> element for a URL or data URI (a link for anything else)."""
    kind = kind or media_kind(uri)
    if kind == "image":
        return img(uri, px)
    if kind == "audio":
        return f'<audio controls preload="none" src="{e(uri)}" style="max-width:{max(px, 240)}px"></audio>'
    if kind == "video":
        return (f'<video controls preload="metadata" src="{e(uri)}" '
                f'style="max-width:{max(px, 320)}px;max-height:{max(px, 240)}px"></video>')
    return f'<a href="{e(uri)}" target="_blank">{e(short(uri))}</a>'


def thumbnail_uri(image: Any, px: int, *, upscale: bool = False) -> str:
    """A PIL image fitted to ``px`` on its longer side, as a PNG data URI. Smaller images stay as they are
    unless ``upscale`` (then nearest-neighbour, so an 8×8 digit stays crisp)."""
    scale = px / max(image.size)
    if scale < 1 or (upscale and scale > 1):
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, 0 if scale > 1 else 1)  # PIL's NEAREST up, LANCZOS down
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(image: Any, px: int = 128, *, title: str = "", upscale: bool = True) -> str:
    """A PIL image as an inline ``<img>`` of ``px`` on its longer side."""
    return img(thumbnail_uri(image, px, upscale=upscale), px, title=title)
