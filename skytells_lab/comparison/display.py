"""HTML for comparison and parity results: cards, tables, text diffs side by side, image grids."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable
from html import escape
from typing import Any

_CARD = (
    "font-family:system-ui,sans-serif;font-size:13px;border:1px solid #d0d7de;border-radius:6px;"
    "padding:8px 12px;margin:4px 0;max-width:100%;overflow-x:auto"
)
_TH = "text-align:left;padding:3px 8px;border-bottom:1px solid #d0d7de;background:#f6f8fa"
_TD = "text-align:left;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top"
_MUTED = "color:#57606a"
VERDICT_COLOURS = {"pass": ("#1a7f37", "#dafbe1"), "fail": ("#cf222e", "#ffebe9")}


def card(title: str, *sections: str, badge: str | None = None) -> str:
    """A bordered block with a bold title, an optional pass/fail badge and HTML sections below."""
    head = f"<b>{escape(title)}</b>"
    if badge:
        fg, bg = VERDICT_COLOURS.get(badge.lower(), ("#24292f", "#eaeef2"))
        head = (
            f"<span style='background:{bg};color:{fg};font-weight:600;border-radius:4px;padding:1px 6px;"
            f"margin-right:6px'>{escape(badge.upper())}</span>"
        ) + head
    return f"<div style='{_CARD}'>{head}{''.join(sections)}</div>"


def facts(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table, values escaped."""
    body = "".join(
        f"<tr><td style='{_MUTED};padding-right:12px'>{escape(str(k))}</td>"
        f"<td style='font-family:monospace'>{escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table style='margin-top:4px'>{body}</table>"


def heading(text: str) -> str:
    return f"<div style='margin-top:8px;font-weight:600'>{escape(text)}</div>"


def table(columns: list[str], rows: Iterable[list[str]], *, escape_cells: bool = True) -> str:
    """A plain table; cells are escaped unless they are already HTML."""
    head = "".join(f"<th style='{_TH}'>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='{_TD}'>{escape(str(c)) if escape_cells else c}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table style='border-collapse:collapse;margin-top:4px'><tr>{head}</tr>{body}</table>"


def frame_table(df, *, max_rows: int = 20, floats: str = "{:.4g}") -> str:
    """A DataFrame's first rows as an escaped table (long text clipped)."""
    rows = []
    for _, record in df.head(max_rows).iterrows():
        rows.append([format_value(v, floats) for v in record.tolist()])
    more = f"<div style='{_MUTED}'>… {len(df) - max_rows} more rows</div>" if len(df) > max_rows else ""
    index = [str(i) for i in df.head(max_rows).index]
    named = df.index.name is not None or not _is_range(df.index)
    columns = ([df.index.name or ""] if named else []) + [str(c) for c in df.columns]
    if named:
        rows = [[i, *r] for i, r in zip(index, rows, strict=True)]
    return table(columns, rows) + more


def _is_range(index) -> bool:
    import pandas as pd

    return isinstance(index, pd.RangeIndex)


def format_value(value: Any, floats: str = "{:.4g}", clip: int = 80) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return "∞" if math.isinf(value) else floats.format(value)
    if hasattr(value, "shape") and getattr(value, "ndim", 0) >= 1:  # a vector
        return f"vector[{value.shape[-1]}]"
    text = str(value)
    return text if len(text) <= clip else text[: clip - 1] + "…"


def thumbnail(image: Any, size: int = 128) -> str:
    """A PIL image as an inline <img> (PNG data URI), scaled to `size` px on its longer side."""
    from PIL import Image

    scale = size / max(image.size)
    shown = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        Image.NEAREST if scale >= 1 else Image.LANCZOS,
    )
    buf = io.BytesIO()
    shown.save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<img src='data:image/png;base64,{data}' style='image-rendering:pixelated;display:block'/>"


def image_cell(images: list, caption: str, error: str | None = None, size: int = 128) -> str:
    if error:
        body = f"<div style='color:#cf222e;max-width:{size}px'>{escape(error[:120])}</div>"
    elif images:
        body = "".join(thumbnail(im, size) for im in images[:4])
    else:
        body = f"<div style='{_MUTED}'>no image</div>"
    return f"{body}<div style='{_MUTED};font-size:11px'>{escape(caption)}</div>"
