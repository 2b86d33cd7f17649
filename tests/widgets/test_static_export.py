"""In an nbconvert HTML export without widget state, a widget shows its static picture, not an empty box."""

from __future__ import annotations

import nbformat
from nbconvert import HTMLExporter

from skytells_lab.widgets import InputForm

SCHEMA = {"required": ["prompt"], "properties": {"prompt": {"type": "string", "title": "Prompt", "x-order": 0},
                                                 "steps": {"type": "integer", "minimum": 1, "maximum": 50,
                                                           "default": 20, "x-order": 1}}}


def test_exported_notebook_shows_the_static_snapshot():
    form = InputForm(schema=SCHEMA, values={"prompt": "a handwritten 9"})
    data = form._repr_mimebundle_()
    assert {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"} <= set(data)
    cell = nbformat.v4.new_code_cell("form", outputs=[nbformat.v4.new_output("display_data", data=data)])
    notebook = nbformat.v4.new_notebook(cells=[cell])
    body, _ = HTMLExporter().from_notebook_node(notebook)
    assert "sl-static" in body and "a handwritten 9" in body
