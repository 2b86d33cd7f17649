"""Floor 1: the HTML card kit (placeholder carried by the ``seams`` branch; the ``floor1`` branch owns this module).

Only what the client's own cards (cache, ledger, budget) need, with the markup of ``notebook/display.py``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

BOX = ("font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45;"
       "border:1px solid #d0d7de;border-radius:8px;padding:10px 12px;margin:4px 0;max-width:900px;"
       "background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color0,#1f2328)")
_TH = "text-align:left;padding:2px 10px 2px 0;color:#57606a;font-weight:500;vertical-align:top;white-space:nowrap"
_TD = "text-align:left;padding:2px 0;vertical-align:top"


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def badge(text: Any, color: str | None = None) -> str:
    color = color or "#9a6700"
    return (f'<span style="display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;'
            f'border:1px solid {color};color:{color};margin-left:6px">{escape(text)}</span>')


def rows(items: Iterable[tuple[str, str]]) -> str:
    """A two-column table; values are HTML already (escape them first)."""
    body = "".join(f'<tr><th style="{_TH}">{escape(k)}</th><td style="{_TD}">{v}</td></tr>'
                   for k, v in items if v not in (None, ""))
    return f'<table style="border-collapse:collapse;margin-top:4px">{body}</table>' if body else ""


def card(kind: str, title: str, badges: str, body: str) -> str:
    return (f'<div class="skytells-card skytells-{escape(kind.lower())}" style="{BOX}">'
            f'<div><span style="color:#57606a">{escape(kind)}</span> '
            f'<b style="font-family:ui-monospace,monospace">{escape(title)}</b>{badges}</div>{body}</div>')
