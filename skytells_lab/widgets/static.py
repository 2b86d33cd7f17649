"""Static pictures for exports: a widget in nbconvert HTML or the docs shows HTML (and a PNG) instead of a box.

nbconvert renders a widget view only when the notebook carries widget state; otherwise it falls back to the
next mimetype of the bundle, so every top-level widget adds its own `text/html` (and `image/png`).
"""

from __future__ import annotations

import html
from typing import Any


class StaticFallback:
    """Mixin for a top-level ipywidgets class: `_static_html()` (and optionally `_static_png()`) say what
    the widget looks like right now."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]
        try:
            bundle["text/html"] = frame_html(type(self).__name__, self._static_html())
            png = self._static_png()
        except Exception as exc:  # noqa: BLE001 - a broken picture must never hide the live widget
            bundle["text/html"] = frame_html(type(self).__name__, f"<i>{html.escape(repr(exc))}</i>")
            png = None
        if png:
            import base64

            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle

    def _static_html(self) -> str:
        raise NotImplementedError

    def _static_png(self) -> bytes | None:
        return None


def frame_html(title: str, body: str) -> str:
    """The box around a static picture, labelled so a reader knows it is a snapshot of a widget."""
    return (
        '<div class="sl-static" style="border:1px solid #ddd;border-radius:6px;padding:8px;'
        'font-family:system-ui,sans-serif;font-size:13px;max-width:900px">'
        f'<div style="color:#888;font-size:11px;margin-bottom:4px">{html.escape(title)} '
        "(static snapshot; run the notebook for the interactive widget)</div>"
        f"{body}</div>"
    )
