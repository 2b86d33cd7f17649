"""The small HTML cards that analysis objects show in a notebook (`_repr_html_`)."""

from __future__ import annotations

from html import escape

_STYLE = ("font-family:system-ui,sans-serif;font-size:13px;border:1px solid #d0d7de;border-radius:6px;"
          "padding:8px 12px;display:inline-block;min-width:260px")


def card(title: str, rows: list[tuple[str, object]], note: str | None = None) -> str:
    """A titled two-column table; values are escaped text."""
    body = "".join(
        f"<tr><td style='color:#57606a;padding-right:12px'>{escape(str(key))}</td>"
        f"<td style='font-family:monospace'>{escape(str(value))}</td></tr>"
        for key, value in rows
    )
    extra = f"<div style='color:#57606a;margin-top:4px'>{escape(note)}</div>" if note else ""
    return f"<div style='{_STYLE}'><b>{escape(title)}</b><table>{body}</table>{extra}</div>"
