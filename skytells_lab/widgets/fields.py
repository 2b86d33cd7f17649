"""One input field of a form: the control for its schema kind, its label, its inline validation message.

Every field follows the same rule for what it contributes to the input dict: a required field always, an
optional one when it has a default or the user changed it, and never an empty value.
"""

from __future__ import annotations

import html
import io
import json
import math
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from skytells_lab._media import decode_data_uri, guess_mime
from skytells_lab.widgets.media import to_data_uri
from skytells_lab.widgets.schema import FieldSpec, accept_attribute


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_LABEL_WIDTH = "160px"
_WIDE = widgets.Layout(width="min(100%, 480px)")


class Field:
    """Base: label + control row, a message line below, and validation against the property schema."""

    def __init__(self, spec: FieldSpec):
        self.spec = spec
        self.touched = False
        self._quiet = False  # set while the code (not the user) changes the control
        self._listeners: list[Callable[[Field], None]] = []
        self.control = self._build()
        self.message = widgets.HTML(value="")
        self.message.add_class("sl-field-message")
        self.label = widgets.HTML(value=self._label_html(), layout=widgets.Layout(width=_LABEL_WIDTH))
        self.label.add_class("sl-field-label")
        self.box = widgets.VBox([widgets.HBox([self.label, *self._row()]), self.message])
        self.box.add_class("sl-field")
        self.box.add_class(f"sl-field-{re.sub(r'[^A-Za-z0-9_-]', '-', spec.name)}")
        if spec.required:
            self.box.add_class("sl-required")
        for control in self._watched():
            control.observe(self._on_change, names="value")

    # -- subclasses fill these in
    def _build(self) -> widgets.Widget:
        raise NotImplementedError

    def _row(self) -> list[widgets.Widget]:
        return [self.control]

    def _watched(self) -> list[widgets.Widget]:
        return [self.control]

    def _read(self) -> Any:
        """The control's value as an input value, MISSING when empty; ValueError with a message if unusable."""
        return self.control.value

    def _write(self, value: Any) -> None:
        self.control.value = value

    # -- shared behaviour
    def _label_html(self) -> str:
        star = ' <span class="sl-required-mark" style="color:#c0392b" title="required">*</span>'
        tip = html.escape(self.spec.description, quote=True)
        mark = star if self.spec.required else ""
        return f'<span title="{tip}"><b>{html.escape(self.spec.title)}</b>{mark}</span>'

    def on_change(self, callback: Callable[[Field], None]) -> None:
        self._listeners.append(callback)

    def _on_change(self, _change=None) -> None:
        if self._quiet:
            return
        self.touched = True
        self.check()
        for callback in self._listeners:
            callback(self)

    @property
    def value(self) -> Any:
        """What this field puts into the input dict, or MISSING (left out)."""
        try:
            value = self._read()
        except ValueError:
            return MISSING
        if value is MISSING or not (self.spec.required or self.spec.has_default or self.touched):
            return MISSING
        return value

    @value.setter
    def value(self, value: Any) -> None:
        self._quiet = True
        try:
            self._write(value)
        finally:
            self._quiet = False
        self._on_change()

    def problem(self) -> str | None:
        """The validation message for the current value, or None when it is fine."""
        try:
            value = self._read()
        except ValueError as exc:
            return str(exc)
        if value is MISSING:
            return "required" if self.spec.required else None
        return check_constraints(self.spec.prop, value)

    def check(self, *, show_required: bool = False) -> str | None:
        """Validate and show the message inline; a missing required value shows once touched or asked."""
        problem = self.problem()
        shown = problem if problem and (self.touched or show_required or problem != "required") else None
        self.message.value = (
            f'<span class="sl-error" style="color:#c0392b;font-size:0.9em">&#9888; {html.escape(shown)}</span>'
            if shown else ""
        )
        (self.box.add_class if shown else self.box.remove_class)("sl-invalid")
        return problem

    def reset(self) -> None:
        self._quiet = True
        try:
            self._write(self.spec.default if self.spec.has_default else self._empty())
        finally:
            self._quiet = False
        self.touched = False
        self.check()

    def _empty(self) -> Any:
        return ""


def check_constraints(prop: dict, value: Any) -> str | None:
    """The JSON-schema checks the server will make (enum, bounds, lengths, pattern), as a short message."""
    if "enum" in prop and value not in prop["enum"]:
        return f"must be one of {', '.join(map(str, prop['enum']))}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if lo is not None and value < lo:
            return f"must be at least {lo}"
        if hi is not None and value > hi:
            return f"must be at most {hi}"
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
            return f"must be greater than {prop['exclusiveMinimum']}"
        if "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
            return f"must be less than {prop['exclusiveMaximum']}"
    if isinstance(value, str):
        if "minLength" in prop and len(value) < prop["minLength"]:
            return f"needs at least {prop['minLength']} characters"
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            return f"must be at most {prop['maxLength']} characters"
        if "pattern" in prop and not re.search(prop["pattern"], value):
            return f"must match {prop['pattern']}"
    if isinstance(value, list):
        if "minItems" in prop and len(value) < prop["minItems"]:
            return f"needs at least {prop['minItems']} items"
        if "maxItems" in prop and len(value) > prop["maxItems"]:
            return f"must have at most {prop['maxItems']} items"
    return None


class TextField(Field):
    def _build(self):
        rows = 3 if self.spec.name in ("prompt", "text", "input", "message", "system_prompt") else 2
        return widgets.Textarea(value=str(self.spec.default or ""), rows=rows, layout=_WIDE,
                                placeholder=self.spec.description[:120])

    def _read(self):
        value = self.control.value
        if value == "" and not (self.spec.has_default and self.spec.default == ""):
            return MISSING
        return value


class SecretField(TextField):
    def _build(self):
        return widgets.Password(value=str(self.spec.default or ""), layout=_WIDE)


class UriField(TextField):
    def _build(self):
        return widgets.Text(value=str(self.spec.default or ""), layout=_WIDE,
                            placeholder="https://... or data:...")

    def _read(self):
        value = super()._read()
        if value is not MISSING and not re.match(r"^(https?://|data:)", value.strip()):
            raise ValueError("must be an http(s) URL or a data: URI")
        return value if value is MISSING else value.strip()


class ChoiceField(Field):
    def _build(self):
        options = [(str(v), v) for v in self.spec.prop["enum"]]
        if not self.spec.required and not self.spec.has_default:
            options.insert(0, ("(not set)", None))
        default = self.spec.default if self.spec.has_default else options[0][1]
        return widgets.Dropdown(options=options, value=default)

    def _read(self):
        return MISSING if self.control.value is None else self.control.value

    def _empty(self):
        return self.control.options[0][1]


class BoolField(Field):
    def _build(self):
        return widgets.Checkbox(value=bool(self.spec.default), indent=False)

    def _empty(self):
        return False


class NumberField(Field):
    """A slider when the schema bounds both ends, a number box otherwise (bounds then checked inline)."""

    def _build(self):
        prop, integer = self.spec.prop, self.spec.kind in ("integer", "seed")
        lo, hi = prop.get("minimum"), prop.get("maximum")
        default = prop.get("default", lo if lo is not None else 0)
        if lo is not None and hi is not None and self.spec.kind != "seed":
            if integer:
                step = int(prop.get("multipleOf", 1))
                return widgets.IntSlider(value=int(default), min=int(lo), max=int(hi), step=step,
                                         continuous_update=False, layout=_WIDE)
            step = float(prop.get("multipleOf", (hi - lo) / 100 or 0.01))
            return widgets.FloatSlider(value=float(default), min=float(lo), max=float(hi), step=step,
                                       continuous_update=False, readout_format=".3g", layout=_WIDE)
        box = widgets.IntText if integer else widgets.FloatText
        return box(value=default if default is not None else 0, layout=widgets.Layout(width="160px"))

    _asked: Any = None  # a value set from code that the slider could not show (it would clamp it)

    def _write(self, value: Any) -> None:
        self._asked = None
        slider = isinstance(self.control, (widgets.IntSlider, widgets.FloatSlider))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        # NaN is never within bounds either: _read names it
        if slider and number and not (self.control.min <= value <= self.control.max):
            self._asked = value
            if math.isfinite(value):  # the slider shows the nearest end; the field keeps what was asked
                self.control.value = type(self.control.value)(min(max(value, self.control.min), self.control.max))
            return
        self.control.value = value

    def _on_change(self, change=None) -> None:
        if change is not None and not self._quiet:
            self._asked = None  # the user moved the slider: its value is the field's again
        super()._on_change(change)

    def _read(self):
        value = self.control.value if self._asked is None else self._asked
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return int(value) if self.spec.kind in ("integer", "seed") else float(value)

    def _empty(self):
        prop = self.spec.prop
        return prop.get("minimum", 0)


class SeedField(NumberField):
    """A seed box with a "random" toggle: while on, every read draws a fresh seed and shows it in the box."""

    def _build(self):
        box = super()._build()
        self.random = widgets.ToggleButton(value=not self.spec.has_default, description="random", icon="random",
                                           tooltip="draw a new seed for every run",
                                           layout=widgets.Layout(width="110px"))
        self.random.add_class("sl-seed-random")
        box.disabled = self.random.value
        self.random.observe(self._toggle, names="value")
        return box

    def _row(self):
        return [self.control, self.random]

    def _toggle(self, change) -> None:
        self.control.disabled = change["new"]
        self._on_change()

    def _read(self):
        if self.random.value:
            prop = self.spec.prop
            seed = random.randint(int(prop.get("minimum", 0)), int(prop.get("maximum", 2**31 - 1)))
            self._quiet = True
            try:
                self.control.value = seed
            finally:
                self._quiet = False
            return seed
        return super()._read()

    @property
    def value(self):
        # a random seed is always sent, so the run can be repeated from its history row
        return self._read() if self.random.value else Field.value.fget(self)

    @value.setter
    def value(self, value):
        self.random.value = value is None
        if value is not None:
            Field.value.fset(self, value)

    def problem(self):
        return None if self.random.value else super().problem()


class JsonField(Field):
    """Arrays and objects as JSON text."""

    def _build(self):
        default = json.dumps(self.spec.default) if self.spec.has_default else ""
        return widgets.Textarea(value=default, rows=2, layout=_WIDE, placeholder="JSON")

    def _read(self):
        text = self.control.value.strip()
        if not text:
            return MISSING
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
        want = self.spec.prop.get("type")
        if want in ("array", "object") and not isinstance(value, list if want == "array" else dict):
            raise ValueError(f"must be a JSON {want}")
        return value

    def _write(self, value):
        self.control.value = "" if value in (None, "") else json.dumps(value)


class MediaField(Field):
    """A file upload with a preview, or a URL: the upload becomes a data URI."""

    def _build(self):
        self.upload = widgets.FileUpload(accept=accept_attribute(self.spec), multiple=False,
                                         description=f"Upload {self.spec.media}")
        self.upload.add_class("sl-upload")
        self.url = widgets.Text(placeholder="or a URL / data URI", layout=widgets.Layout(width="260px"))
        if self.spec.media == "audio":
            self.preview = widgets.Audio(autoplay=False, controls=True, layout=widgets.Layout(display="none"))
        else:
            self.preview = widgets.Image(layout=widgets.Layout(display="none", max_width="160px",
                                                               max_height="160px"))
        self.preview.add_class("sl-preview")
        self._uri: str | None = None
        self._upload_error: str | None = None
        self.upload.observe(self._uploaded, names="value")
        self.url.observe(self._typed, names="value")
        return self.upload

    def _row(self):
        return [widgets.VBox([widgets.HBox([self.upload, self.url]), self.preview])]

    def _watched(self):
        return []  # _uploaded and _typed call _on_change themselves, after updating the preview

    def _uploaded(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        content = bytes(item["content"])
        self._upload_error = None
        try:
            self._uri = to_data_uri(content, filename=item.get("name"), mime=item.get("type") or None,
                                    **self._limits())
        except Exception as exc:  # noqa: BLE001 - e.g. larger than the service allows: say so inline
            self._uri, self._upload_error = None, getattr(exc, "message", None) or str(exc)
        self._show(content, guess_mime(content, item.get("name"), item.get("type") or None))
        self._on_change()

    def _typed(self, change) -> None:
        if change["new"].strip():
            self._uri, self._upload_error = None, None
            try:
                self._show(*decode_data_uri(change["new"].strip()))
            except ValueError:  # a URL or a path typed in: nothing to preview
                self._hide()
        self._on_change()

    def _show(self, content: bytes, mime: str) -> None:
        self.preview.format = mime.split("/")[-1]
        self.preview.value = content
        self.preview.layout.display = None

    def _hide(self) -> None:
        self.preview.layout.display = "none"

    def _read(self):
        if self._upload_error:
            raise ValueError(self._upload_error)
        if self._uri:
            return self._uri
        text = self.url.value.strip()
        if not text:
            return MISSING
        if not re.match(r"^(https?://|data:)", text):
            raise ValueError("must be an uploaded file, an http(s) URL or a data: URI")
        return text

    def _write(self, value):
        """Bytes, a path, a PIL image or a URL / data URI."""
        self._uri, self._upload_error = None, None
        if value is None or value == "":
            self.url.value = ""
            self.upload.value = ()
            self._hide()
            return
        if isinstance(value, str) and re.match(r"^(https?://|data:)", value):
            self.url.value = value
            return
        content = _media_bytes(value)
        name = str(value) if isinstance(value, (str, Path)) else None
        self._uri = to_data_uri(content, filename=name, **self._limits())
        self._show(content, guess_mime(content))

    def _limits(self) -> dict:
        cap = self.spec.prop.get("x-max-bytes")
        return {"field": self.spec.name, "max_bytes": int(cap) if cap is not None else None}


def _media_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, Path)):
        return Path(value).read_bytes()
    if hasattr(value, "save"):  # PIL image
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"cannot use a {type(value).__name__} as a media input; give bytes, a path or a PIL image")


FIELD_CLASSES: dict[str, type[Field]] = {
    "text": TextField, "secret": SecretField, "uri": UriField, "choice": ChoiceField, "bool": BoolField,
    "integer": NumberField, "number": NumberField, "seed": SeedField, "json": JsonField, "media": MediaField,
}


def make_field(spec: FieldSpec) -> Field:
    return FIELD_CLASSES[spec.kind](spec)
