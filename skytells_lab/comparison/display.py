"""HTML for comparison and parity results, on the card kit (:mod:`skytells_lab._html`): verdict cards,
DataFrame tables, image cells."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from skytells_lab import _html

_MUTED = f"color:{_html.MUTED}"
VERDICT_COLOURS = {"pass": _html.SUCCESS, "fail": _html.DANGER}


def card(title: str, *sections: str, badge: str | None = None) -> str:
    """The card kit's card with a verdict badge (PASS, FAIL, regression...) and HTML sections below."""
    badges = _html.badge(badge.upper(), VERDICT_COLOURS.get(badge.lower(), _html.NEUTRAL)) if badge else ""
    return _html.card(title, "", "".join(sections), badges=badges)


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
    return _html.table(columns, rows) + more


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


def image_cell(images: list, caption: str, error: str | None = None, size: int = 128) -> str:
    if error:
        body = f"<div style='color:{_html.DANGER};max-width:{size}px'>{escape(error[:120])}</div>"
    elif images:
        body = "".join(_html.thumbnail(im, size) for im in images[:4])
    else:
        body = f"<div style='{_MUTED}'>no image</div>"
    return f"{body}<div style='{_MUTED};font-size:11px'>{escape(caption)}</div>"
