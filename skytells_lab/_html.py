"""Floor 1: the HTML card kit (a placeholder carried by the ``seams`` branch, with the names and markup of
the ``floor1`` branch's module, which replaces it at merge).

Only what the client's own cards (cache, ledger, budget) need.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

SUCCESS = "#1a7f37"
DANGER = "#cf222e"
NEUTRAL = "#6e7781"
WARNING = "#9a6700"
ACCENT = "#0969da"
MUTED = "#57606a"
BORDER = "#d0d7de"
RULE = "#eaeef2"
_BOX = ("font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45;"
        f"border:1px solid {BORDER};border-radius:8px;padding:10px 12px;margin:4px 0;max-width:900px;"
        "background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color0,#1f2328)")
TH = f"text-align:left;padding:2px 10px 2px 0;color:{MUTED};font-weight:500;vertical-align:top;white-space:nowrap"
TD = "text-align:left;padding:2px 0;vertical-align:top"


def e(value: Any) -> str:
    """``value`` as escaped HTML text (None is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def badge(text: Any, color: str | None = None) -> str:
    """A rounded outlined label."""
    color = color or WARNING
    return (f'<span style="display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;'
            f'border:1px solid {color};color:{color};margin-left:6px">{e(text)}</span>')


def rows(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML already (escape them with :func:`e`), empty ones left out."""
    body = "".join(f'<tr><th style="{TH}">{e(k)}</th><td style="{TD}">{v}</td></tr>'
                   for k, v in pairs if v not in (None, ""))
    return f"<table>{body}</table>" if body else ""


def card(kind: str, title: str = "", body: str = "", *, badges: str = "") -> str:
    """The one card: ``kind`` (what it is), a monospace ``title`` (which one), ``badges`` and ``body`` (HTML)."""
    name = f'<b style="font-family:ui-monospace,monospace">{e(title)}</b>' if title else ""
    return (f'<div class="skytells-card skytells-{e(kind.lower().replace(" ", "-"))}" style="{_BOX}">'
            f'<div><span style="color:{MUTED}">{e(kind)}</span> {name}{badges}</div>{body}</div>')
