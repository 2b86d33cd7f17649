"""The small HTML cards that analysis objects show in a notebook (`_repr_html_`), in the card kit's style."""

from __future__ import annotations

from skytells_lab import _html


def card(title: str, rows: list[tuple[str, object]], note: str | None = None) -> str:
    """A titled two-column table of plain values (escaped), with an optional note below."""
    extra = f'<div style="color:{_html.MUTED};margin-top:4px">{_html.e(note)}</div>' if note else ""
    return _html.card(title, "", _html.facts(rows) + extra)
