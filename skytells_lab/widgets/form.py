"""InputForm: a form generated from a model's JSON input schema, whose `.value` is the input dict."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import traitlets

from skytells_lab.widgets.fields import MISSING, Field, make_field
from skytells_lab.widgets.schema import ordered_fields
from skytells_lab.widgets.static import StaticFallback


def resolve_schema(model: Any = None, *, schema: dict | None = None,
                   client: Any = None) -> tuple[dict, str | None]:
    """(input schema, model slug) from a Model, a slug (with `client`), a model dict or a bare schema."""
    if schema is not None:
        return schema, None
    if isinstance(model, str):
        if client is None:
            raise TypeError("InputForm('slug') needs client= to look the model up")
        model = client.models.get(model)
    if isinstance(model, dict):
        if "properties" in model:
            return model, None
        return model.get("input_schema") or {}, model.get("namespace") or model.get("name")
    if model is None:
        return {}, None
    return getattr(model, "input_schema", None) or {}, getattr(model, "slug", None)


class InputForm(StaticFallback, widgets.VBox):
    """Fields in `x-order` with defaults filled and required ones marked; messages appear inline as the
    user types, and `validate()` shows them all before anything is sent.

    >>> form = InputForm(client.models.get("digits-diffusion"))
    >>> form.value            # {"prompt": ..., "width": 28, ...}
    """

    valid = traitlets.Bool(True, help="False while any field holds a value the server would refuse")

    def __init__(self, model: Any = None, *, schema: dict | None = None, client: Any = None,
                 values: dict | None = None, **kwargs: Any):
        self.schema, self.model = resolve_schema(model, schema=schema, client=client)
        self.fields: dict[str, Field] = {spec.name: make_field(spec) for spec in ordered_fields(self.schema)}
        children = [f.box for f in self.fields.values()] or [widgets.HTML("<i>This model takes no inputs.</i>")]
        super().__init__(children=children, **kwargs)
        self.add_class("sl-form")
        for f in self.fields.values():
            f.on_change(self._field_changed)
        if values:
            self.value = values

    @property
    def value(self) -> dict[str, Any]:
        """The input dict: required fields, fields with defaults and fields the user set; no empty values."""
        out = {}
        for name, f in self.fields.items():
            value = f.value
            if value is not MISSING:
                out[name] = value
        return out

    @value.setter
    def value(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name not in self.fields:
                raise KeyError(f"{name!r} is not an input of this form; inputs: {', '.join(self.fields)}")
            self.fields[name].value = value

    @property
    def errors(self) -> dict[str, str]:
        """{field: message} for every field the server would refuse now (shown or not)."""
        return {name: msg for name, f in self.fields.items() if (msg := f.problem())}

    def validate(self) -> dict[str, str]:
        """Show every field's message inline (required ones included); returns {field: message}."""
        errors = {name: msg for name, f in self.fields.items() if (msg := f.check(show_required=True))}
        self.valid = not errors
        return errors

    def reset(self) -> None:
        """Back to the schema's defaults."""
        for f in self.fields.values():
            f.reset()
        self.valid = not self.errors

    def _field_changed(self, _field: Field) -> None:
        self.valid = not self.errors

    def __repr__(self) -> str:
        return f"InputForm({self.model or 'schema'!r}, fields={list(self.fields)})"

    def _static_html(self) -> str:
        rows = []
        for f in self.fields.values():
            value = f.value
            shown = "" if value is MISSING else _short(value)
            star = " *" if f.spec.required else ""
            rows.append(f"<tr><td style='padding:2px 8px'><b>{html.escape(f.spec.title)}</b>{star}</td>"
                        f"<td style='padding:2px 8px'><code>{html.escape(shown)}</code></td></tr>")
        title = f"<div><b>{html.escape(self.model)}</b> inputs</div>" if self.model else ""
        return f"{title}<table>{''.join(rows)}</table>"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else value
    if isinstance(value, str) and value.startswith("data:"):
        return f"{value.split(',', 1)[0]},... ({len(value):,} chars)"
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
