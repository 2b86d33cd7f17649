"""HTML cards in a notebook: the client's results (built by the client, :mod:`skytells_lab.api._cards`), the
notebook layer's own (cache, ledger, budget, webhook inbox) and the captioned image grid ``show_images``.

Every card is built with the card kit (:mod:`skytells_lab._html`): self-contained HTML with inline styles,
so it survives JupyterLab, VS Code, nbconvert and the docs site.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from skytells_lab._html import (
    ACCENT,
    DANGER,
    MUTED,
    TD,
    TH,
    badge,
    card,
    e,
    media_html,
    short,
    thumbnail_uri,
    when,
)
from skytells_lab._media import is_media_uri, media_kind
from skytells_lab.api._cards import (
    OUTPUT_PX,
    THUMB_PX,
    chat_html,
    embedding_html,
    error_html,
    model_html,
    model_page_html,
    page_html,
    prediction_html,
    response_html,
    safety_html,
    thumbnail_html,
)

__all__ = [
    "OUTPUT_PX",
    "THUMB_PX",
    "ImageGrid",
    "chat_html",
    "embedding_html",
    "error_html",
    "is_media_uri",
    "media_html",
    "media_kind",
    "model_html",
    "model_page_html",
    "page_html",
    "prediction_html",
    "response_html",
    "safety_html",
    "show_images",
    "thumbnail_html",
]

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
                         f'<figcaption style="font-size:12px;color:{MUTED};max-width:{self.size}px;'
                         f'overflow-wrap:anywhere">{e(caption)}</figcaption></figure>')
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
            return [(thumbnail_uri(im, size * 2), label) for im in images]
        except Exception:  # noqa: BLE001 - unfetchable: let the browser load the URLs
            return [(u, label) for u in item.outputs]
    if _is_page(item):
        return [s for p in item.data for s in _image_sources(p, size)]
    if hasattr(item, "save") and hasattr(item, "size"):  # PIL
        return [(thumbnail_uri(item, size * 2), f"{item.width}×{item.height}")]
    if hasattr(item, "__array__") and hasattr(item, "shape"):
        from skytells_lab.api._media import array_to_image

        image = array_to_image(item)
        return [(thumbnail_uri(image, size * 2), f"{image.width}×{image.height}")]
    if isinstance(item, (bytes, bytearray)):
        from PIL import Image

        with Image.open(io.BytesIO(bytes(item))) as image:
            return [(thumbnail_uri(image, size * 2), f"{image.width}×{image.height}")]
    if isinstance(item, Path) or (isinstance(item, str) and not item.startswith(("http://", "https://", "data:"))):
        from PIL import Image

        with Image.open(item) as image:
            return [(thumbnail_uri(image, size * 2), Path(item).name)]
    if isinstance(item, str):
        return [(item, short(item.rsplit("/", 1)[-1], 40) if not item.startswith("data:") else "")]
    raise TypeError(f"show_images cannot show a {type(item).__name__}")


def inbox_html(inbox: Any) -> str:
    head = "".join(f'<th style="{TH}">{h}</th>' for h in ("received", "type", "prediction", "status", "verified"))
    rows = "".join(
        f'<tr><td style="{TD};padding-right:10px">{when(ev.received_at)}</td>'
        f'<td style="{TD};padding-right:10px">{e(ev.type)}</td>'
        f'<td style="{TD};padding-right:10px;font-family:ui-monospace,monospace">{e(ev.prediction_id)}</td>'
        f'<td style="{TD};padding-right:10px">{e(ev.status)}</td><td style="{TD}">{"✓" if ev.verified else "–"}'
        f'</td></tr>' for ev in list(inbox.events)[-20:])
    table = f'<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>{head}</tr>{rows}</table>'
    badges = badge(f"{len(inbox.events)} events", ACCENT) + (
        badge(f"{inbox.rejected} rejected", DANGER) if inbox.rejected else "")
    return card("WebhookInbox", inbox.url, table if inbox.events else "", badges=badges)
