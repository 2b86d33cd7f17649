"""In an nbconvert HTML export without widget state, a widget shows its static picture, not an empty box."""

from __future__ import annotations

import re

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


def test_an_executed_map_keeps_its_widget_state_and_exports_a_picture(tmp_path):
    """What the tour and the notebook tests do: nbclient stores the widget state (JupyterLab reopens the
    map), and the HTML page shows the PNG of every point instead of an empty widget box."""
    import json

    from skytells_lab.notebook.tour import execute_notebook, run_notebook

    source = ("import numpy as np, pandas as pd\nfrom skytells_lab.analysis import EmbeddingSpace\n"
              "rng = np.random.default_rng(0)\n"
              "data = pd.DataFrame({'x': rng.normal(size=5000), 'y': rng.normal(size=5000), 'g': rng.integers(0, 3, 5000)})\n"
              "EmbeddingSpace(rng.normal(size=(5000, 4)), data).explore(hue='g')")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "map.ipynb"
    nbformat.write(notebook, path)
    executed = execute_notebook(path, timeout=300)
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    view = executed.cells[0].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] in state
    assert any(m["model_name"] == "AnyModel" and "points" in json.dumps(m["state"].get("buffers", m))
               for m in state.values())
    html = run_notebook(path, tmp_path / "map.html", timeout=300).read_text(encoding="utf-8")
    assert re.search(r'<img[^>]*class="sl-explorer-png"[^>]*src="data:image/png;base64,', html) and "sl-static" in html


def test_the_lab_settings_turn_on_saving_widget_state(tmp_path):
    """`skytells-lab lab` and the binder image give JupyterLab this override; JupyterLab reads it as the
    widget manager's saveState default (the browser test saves a map notebook under it)."""
    from jupyterlab_server.settings_utils import _get_overrides

    from skytells_lab.cli import write_lab_settings

    write_lab_settings(tmp_path)
    overrides, error = _get_overrides(str(tmp_path))
    assert not error and overrides["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
