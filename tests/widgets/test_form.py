"""InputForm built from a schema with every field kind: order, defaults, widgets, validation, seed, upload."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone

import ipywidgets as widgets
import pytest
from PIL import Image

from skytells_lab.widgets import InputForm

SCHEMA = {
    "type": "object",
    "title": "Input",
    "required": ["prompt", "mode"],
    "properties": {
        "num_outputs": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1, "x-order": 4},
        "prompt": {"type": "string", "title": "Prompt", "description": "what to draw", "x-order": 0},
        "mode": {"type": "string", "enum": ["fast", "best"], "x-order": 1},
        "style": {"type": "string", "enum": ["photo", "sketch"], "default": "photo", "x-order": 2},
        "hdr": {"type": "boolean", "default": False, "x-order": 3},
        "guidance": {"type": "number", "minimum": 0, "maximum": 10, "default": 7.5, "x-order": 5},
        "strength": {"type": "number", "minimum": 0, "maximum": 1, "x-order": 6},
        "steps": {"type": "integer", "minimum": 1, "default": 20, "x-order": 7},
        "image": {"type": "string", "format": "uri", "x-accept": ["image/png", "image/jpeg"], "x-order": 8},
        "voice": {"type": "string", "format": "uri", "x-order": 9},
        "callback": {"type": "string", "format": "uri", "x-order": 10},
        "token": {"type": "string", "format": "password", "x-order": 11},
        "stop": {"type": "array", "items": {"type": "string"}, "x-order": 12},
        "negative_prompt": {"type": "string", "maxLength": 10, "x-order": 13},
        "seed": {"type": "integer", "minimum": 0, "maximum": 1000, "x-order": 14},
        "unordered": {"type": "string", "default": "last"},
    },
}


def png_bytes(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def upload_item(content: bytes, name="digit.png", mime="image/png") -> dict:
    return {"name": name, "type": mime, "size": len(content), "content": memoryview(content),
            "last_modified": datetime.now(timezone.utc)}


@pytest.fixture
def form():
    return InputForm(schema=SCHEMA)


def test_fields_follow_x_order_and_children_match(form):
    names = ["prompt", "mode", "style", "hdr", "num_outputs", "guidance", "strength", "steps", "image", "voice",
             "callback", "token", "stop", "negative_prompt", "seed", "unordered"]
    assert list(form.fields) == names
    assert [child for child in form.children] == [form.fields[n].box for n in names]
    assert "sl-field-prompt" in form.fields["prompt"].box._dom_classes


def test_each_kind_gets_its_widget(form):
    f = form.fields
    assert isinstance(f["prompt"].control, widgets.Textarea)
    assert isinstance(f["mode"].control, widgets.Dropdown)
    assert isinstance(f["hdr"].control, widgets.Checkbox)
    assert isinstance(f["num_outputs"].control, widgets.IntSlider)
    assert (f["num_outputs"].control.min, f["num_outputs"].control.max) == (1, 4)
    assert isinstance(f["guidance"].control, widgets.FloatSlider)
    assert isinstance(f["steps"].control, widgets.IntText)  # only a lower bound: a box, checked inline
    assert isinstance(f["image"].control, widgets.FileUpload)
    assert f["image"].control.accept == "image/png,image/jpeg"
    assert isinstance(f["voice"].preview, widgets.Audio)
    assert isinstance(f["callback"].control, widgets.Text)
    assert isinstance(f["token"].control, widgets.Password)
    assert isinstance(f["stop"].control, widgets.Textarea)
    assert isinstance(f["seed"].control, widgets.IntText) and isinstance(f["seed"].random, widgets.ToggleButton)


def test_defaults_filled_and_untouched_optionals_left_out(form):
    form.fields["seed"].random.value = False
    form.fields["seed"].control.value = 5
    form.fields["mode"].control.value = "best"
    value = form.value
    assert value == {"mode": "best", "style": "photo", "hdr": False, "num_outputs": 1, "guidance": 7.5,
                     "steps": 20, "seed": 5, "unordered": "last"}
    form.fields["strength"].control.value = 0.3  # an optional slider counts once the user moves it
    assert form.value["strength"] == pytest.approx(0.3)


def test_required_fields_are_marked(form):
    assert "*" in form.fields["prompt"].label.value
    assert "sl-required" in form.fields["prompt"].box._dom_classes
    assert "*" not in form.fields["style"].label.value
    assert "(not set)" not in [label for label, _ in form.fields["mode"].control.options]
    assert form.fields["mode"].control.value == "fast"  # a required enum starts on its first choice


def test_inline_validation_before_sending(form):
    assert form.fields["prompt"].message.value == ""  # untouched: no shouting at a fresh form
    assert form.errors == {"prompt": "required"}
    errors = form.validate()
    assert errors == {"prompt": "required"} and not form.valid
    assert "required" in form.fields["prompt"].message.value
    assert "sl-invalid" in form.fields["prompt"].box._dom_classes

    form.fields["prompt"].control.value = "a 3"
    form.fields["steps"].control.value = 0
    form.fields["stop"].control.value = '["x",'
    form.fields["negative_prompt"].control.value = "far too long a text"
    form.fields["callback"].control.value = "ftp://example"
    assert set(form.errors) == {"steps", "stop", "negative_prompt", "callback"}
    assert "at least 1" in form.fields["steps"].message.value
    assert "JSON" in form.fields["stop"].message.value
    assert "at most 10" in form.fields["negative_prompt"].message.value
    assert form.fields["prompt"].message.value == ""
    assert not form.valid

    form.fields["steps"].control.value = 30
    form.fields["stop"].control.value = '["x", "y"]'
    form.fields["negative_prompt"].control.value = "blur"
    form.fields["callback"].control.value = "https://example.com/hook"
    assert form.validate() == {} and form.valid
    assert form.value["stop"] == ["x", "y"]


def test_seed_random_toggle(form):
    seed = form.fields["seed"]
    assert seed.random.value and seed.control.disabled  # no default seed: random by default
    draws = {form.value["seed"] for _ in range(8)}
    assert len(draws) > 1 and all(0 <= s <= 1000 for s in draws)
    assert seed.control.value in draws  # the box shows the seed that was sent
    seed.random.value = False
    assert not seed.control.disabled
    seed.control.value = 42
    assert {form.value["seed"] for _ in range(3)} == {42}
    form.value = {"seed": None}  # None means random again
    assert seed.random.value


def test_upload_png_becomes_data_uri_with_preview(form):
    content = png_bytes()
    media = form.fields["image"]
    media.upload.value = (upload_item(content),)
    uri = form.value["image"]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == content
    assert media.preview.value == content and media.preview.layout.display is None
    assert form.errors.get("image") is None


def test_media_set_from_pil_url_or_cleared(form):
    media = form.fields["image"]
    form.value = {"image": Image.new("L", (4, 4), 255)}
    uri = form.value["image"]
    assert uri.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (4, 4)
    form.value = {"image": "http://127.0.0.1:9/x.png"}
    assert form.value["image"] == "http://127.0.0.1:9/x.png"
    media.url.value = "not a url"
    assert "URL" in form.errors["image"]
    form.value = {"image": None}
    assert "image" not in form.value


def test_value_setter_rejects_unknown_names_and_reset(form):
    with pytest.raises(KeyError):
        form.value = {"nope": 1}
    form.value = {"prompt": "7", "num_outputs": 3}
    assert form.value["num_outputs"] == 3
    form.reset()
    assert form.value["num_outputs"] == 1 and "prompt" not in form.value


def test_form_from_model_objects_and_empty_schema():
    model = {"namespace": "m", "input_schema": {"properties": {"x": {"type": "integer", "default": 2}}}}
    assert InputForm(model).value == {"x": 2}
    assert InputForm(model).model == "m"
    empty = InputForm(schema={})
    assert empty.value == {} and "no inputs" in empty.children[0].value


def test_static_fallback_in_mimebundle(form):
    form.fields["prompt"].control.value = "draw a 4"
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "draw a 4" in bundle["text/html"] and "Prompt" in bundle["text/html"]


def test_upload_larger_than_the_field_allows_is_refused_inline():
    form = InputForm(schema={"properties": {"image": {"type": "string", "format": "uri", "x-accept": "image/*",
                                                      "x-max-bytes": 64}}})
    noisy = Image.frombytes("L", (32, 32), bytes(range(256)) * 4)
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    form.fields["image"].upload.value = (upload_item(buf.getvalue()),)
    assert "larger" in form.errors["image"] or "limit" in form.errors["image"]
    assert "sl-error" in form.fields["image"].message.value and "image" not in form.value


def test_a_value_set_from_code_out_of_range_is_said_not_clamped():
    from skytells_lab.widgets.form import InputForm

    schema = {"type": "object", "properties": {
        "steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        "guidance": {"type": "number", "minimum": 0, "maximum": 2}}}
    form = InputForm(schema=schema)
    form.value = {"steps": 500, "guidance": float("nan")}
    assert form.value["steps"] == 500  # kept as asked, not 50
    assert form.errors == {"steps": "must be at most 50", "guidance": "must be a finite number, got nan"}
    assert "must be at most 50" in form.fields["steps"].message.value  # shown inline
    assert form.fields["steps"].control.value == 50  # the slider shows the nearest end
    form.fields["steps"].control.value = 20  # the user moves it: its value counts again
    assert form.value["steps"] == 20 and "steps" not in form.errors
