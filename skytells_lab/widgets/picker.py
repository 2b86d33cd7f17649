"""ModelPicker: the catalog as a searchable list with a type filter and badges; `.value` is the chosen slug."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import traitlets

from skytells_lab import _html
from skytells_lab.widgets.render import error_card
from skytells_lab.widgets.static import StaticFallback


def price_text(model: Any) -> str:
    pricing = getattr(model, "pricing", None)
    amount = getattr(pricing, "amount", None)
    if amount is None:
        return "price n/a"
    if amount == 0:
        return "free"
    return f"{amount:g} {pricing.currency or ''}/{pricing.unit or 'run'}".replace(" /", "/")


def is_local_model(model: Any, client: Any) -> bool:
    """Served by the embedded server: the client says so, or the catalog entry names a local device."""
    return bool(getattr(client, "is_local", False) or (getattr(model, "metadata", None) or {}).get("device"))


def badges_html(model: Any, client: Any) -> str:
    if model is None:
        return f'<span style="color:{_html.MUTED}">no model matches</span>'
    local = is_local_model(model, client)
    parts = [
        _html.badge(model.type or "?", _html.NEUTRAL, css_class="sl-badge-type"),
        _html.badge(price_text(model), _html.WARNING, css_class="sl-badge-price"),
        _html.badge("local" if local else "remote", _html.SUCCESS if local else _html.ACCENT,
                    css_class="sl-badge-where"),
    ]
    parts += [_html.chip(cap) for cap in model.capabilities[:4]]
    desc = model.description or ""
    desc = html.escape(desc if len(desc) <= 200 else desc[:199] + "\u2026")
    return f'{"".join(parts)}<div style="color:{_html.MUTED};font-size:12px;margin-top:2px">{desc}</div>'


class ModelPicker(StaticFallback, widgets.VBox):
    """A searchable choice of the catalog.

    >>> picker = ModelPicker(client, type="image")
    >>> picker.observe(lambda ch: print(ch["new"]), "value")
    >>> picker.value, picker.model       # the slug, the Model
    """

    value = traitlets.Unicode(None, allow_none=True, help="slug of the chosen model")

    def __init__(self, client: Any = None, type: str | None = None, *, models: list | None = None,
                 value: str | None = None, **kwargs: Any):
        self.client = client
        self.error = widgets.HTML()
        self.error.add_class("sl-picker-error")
        try:
            self.models = list(models) if models is not None else list(client.models.list())
        except Exception as exc:  # noqa: BLE001 - an unreachable backend still gives a usable (empty) widget
            self.models = []
            self.error.value = error_card(exc, title="Could not list the models")
        types = sorted({m.type for m in self.models if m.type})
        self.search = widgets.Text(placeholder="search models", continuous_update=True,
                                   layout=widgets.Layout(width="220px"))
        self.search.add_class("sl-picker-search")
        self.type_filter = widgets.ToggleButtons(options=[("all", "")] + [(t, t) for t in types],
                                                 value=type if type in types else "",
                                                 style={"button_width": "auto"})
        self.type_filter.add_class("sl-picker-type")
        self.list = widgets.Select(options=[], rows=min(6, max(2, len(self.models))),
                                   layout=widgets.Layout(width="min(100%, 480px)"))
        self.list.add_class("sl-picker-list")
        self.badges = widgets.HTML()
        self.badges.add_class("sl-picker-badges")
        super().__init__(children=[widgets.HBox([self.search, self.type_filter]), self.list, self.badges,
                                   self.error], **kwargs)
        self.add_class("sl-picker")
        self.search.observe(self._refilter, names="value")
        self.type_filter.observe(self._refilter, names="value")
        self.list.observe(self._listed, names="value")
        self._refilter(prefer=value)

    @property
    def model(self) -> Any:
        """The chosen Model object (None when nothing matches)."""
        return next((m for m in self.models if m.slug == self.value), None)

    @property
    def matches(self) -> list[str]:
        """Slugs that pass the search and type filter now."""
        return [slug for _, slug in self.list.options]

    def _keep(self, model: Any) -> bool:
        if self.type_filter.value and model.type != self.type_filter.value:
            return False
        words = self.search.value.lower().split()
        haystack = " ".join([model.slug, model.name or "", model.description or "", model.type or "",
                             *model.capabilities, str((model.vendor or {}).get("name", ""))]).lower()
        return all(word in haystack for word in words)

    def _refilter(self, _change=None, prefer: str | None = None) -> None:
        kept = [m for m in self.models if self._keep(m)]
        wanted = prefer or self.value
        slugs = [m.slug for m in kept]
        self._refiltering = True  # new options pass the list through None: not a choice of the user's
        try:
            self.list.options = [(f"{m.slug}  \u00b7  {m.type or '?'}", m.slug) for m in kept]
            self.list.value = wanted if wanted in slugs else (slugs[0] if slugs else None)
        finally:
            self._refiltering = False
        self._listed()

    _refiltering = False

    def _listed(self, _change=None) -> None:
        if self._refiltering:
            return
        self.value = self.list.value
        self.badges.value = badges_html(self.model, self.client)

    @traitlets.validate("value")
    def _check_slug(self, proposal) -> str | None:
        slug = proposal["value"]
        if slug is not None and self.models and slug not in {m.slug for m in self.models}:
            raise traitlets.TraitError(f"{slug!r} is not in the catalog")
        return slug

    @traitlets.observe("value")
    def _value_set(self, change) -> None:
        # `picker.value = slug` from code selects it in the list (clearing filters that hide it)
        if change["new"] is not None and change["new"] != self.list.value:
            if change["new"] not in self.matches:
                self.search.value, self.type_filter.value = "", ""
            if change["new"] in self.matches:
                self.list.value = change["new"]

    def __repr__(self) -> str:
        return f"ModelPicker(value={self.value!r}, {len(self.matches)}/{len(self.models)} models)"

    def _static_html(self) -> str:
        names = "".join(f"<li>{f'<b>{html.escape(s)}</b>' if s == self.value else html.escape(s)}</li>"
                        for s in self.matches[:12])
        return f"{badges_html(self.model, self.client)}<ul style='margin:4px 0'>{names}</ul>{self.error.value}"
