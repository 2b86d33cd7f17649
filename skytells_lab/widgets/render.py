"""HTML fragments the widgets show: status lines, error cards, image galleries, streamed text, audio.

Everything is self-contained HTML (media as data URIs), so it renders the same in JupyterLab, in an
nbconvert export and in the static fallback of a widget.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

from skytells_lab import _html
from skytells_lab._media import encode_data_uri


def status_html(state: str, *, detail: str = "", prediction_id: str | None = None) -> str:
    color = _html.STATUS_COLORS.get(state, _html.ACCENT)
    pid = f' <code style="color:{_html.MUTED}">{html.escape(prediction_id)}</code>' if prediction_id else ""
    extra = f" &middot; {html.escape(detail)}" if detail else ""
    return (f'<span class="sl-status-line" data-status="{html.escape(state)}">'
            f'<b style="color:{color}">{html.escape(state)}</b>{extra}{pid}</span>')


def error_card(exc: BaseException, *, title: str | None = None) -> str:
    """A readable card for a failed call (the card kit's one error card)."""
    return _html.error_card(exc, title=title)


def png_bytes(image: Any) -> bytes:
    """PNG bytes of a PIL image (or bytes passed through)."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def gallery_html(images: list[Any], *, size: int = 160, captions: list[str] | None = None) -> str:
    """Images side by side, scaled up without smoothing so small digits stay crisp."""
    tiles = []
    for i, image in enumerate(images):
        caption = html.escape(captions[i]) if captions and i < len(captions) else ""
        tiles.append(
            '<figure style="margin:4px;text-align:center">'
            f'<img class="sl-output-image" src="{encode_data_uri(png_bytes(image), "image/png")}" '
            f'style="width:{size}px;height:auto;image-rendering:pixelated;border:1px solid {_html.BORDER}" '
            f'alt="output {i}"/>'
            f'<figcaption style="font-size:11px;color:{_html.MUTED}">{caption}</figcaption></figure>'
        )
    return f'<div class="sl-gallery" style="display:flex;flex-wrap:wrap">{"".join(tiles)}</div>'


def text_html(text: str, *, streaming: bool = False) -> str:
    cursor = '<span class="sl-cursor">&#9611;</span>' if streaming else ""
    return (f'<div class="sl-output-text" style="white-space:pre-wrap;font-family:system-ui,sans-serif;'
            f'border-left:3px solid {_html.BORDER};padding:4px 8px">{html.escape(text)}{cursor}</div>')


def audio_html(content: bytes, mime: str) -> str:
    return f'<audio class="sl-output-audio" controls src="{encode_data_uri(content, mime)}"></audio>'


def video_html(content: bytes, mime: str) -> str:
    src = encode_data_uri(content, mime)
    return f'<video class="sl-output-video" controls style="max-width:480px" src="{src}"></video>'


def link_html(url: str) -> str:
    safe = html.escape(url, quote=True)
    return f'<div><a href="{safe}" target="_blank" rel="noopener">{safe}</a></div>'


def table_html(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><td style='padding:1px 8px;color:{_html.MUTED}'>{html.escape(str(k))}</td>"
                    f"<td style='padding:1px 8px'>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table class='sl-facts'>{cells}</table>"


# Inside a widget the notebook's own table style does not apply: a bare `df.to_html()` would show the
# browser's default heavy grid (border="1"). Every table a widget shows goes through `frame_html`.
_TABLE = "border-collapse:collapse;margin-top:4px;font-size:12px"
_CELL = f"border:none;border-bottom:1px solid {_html.RULE};padding:2px 8px;text-align:right;vertical-align:top"
_HEAD = f"border:none;border-bottom:1px solid {_html.BORDER};padding:2px 8px;text-align:right;font-weight:600"


def frame_html(df: Any, *, css_class: str = "sl-table", **to_html: Any) -> str:
    """A DataFrame as a light table (thin row rules, no cell borders), styled inline so it looks the same in
    a widget, an nbconvert export and the docs. ``to_html`` options (``max_rows``, ``float_format``...) pass on."""
    table = df.to_html(border=0, classes=css_class, **to_html)
    table = re.sub(r'<table(?: border="0")? class="dataframe', f'<table style="{_TABLE}" class="dataframe', table,
                   count=1)
    table = table.replace("<td>", f'<td style="{_CELL}">').replace("<th>", f'<th style="{_HEAD}">')
    return table.replace('<tr style="text-align: right;">', "<tr>")
