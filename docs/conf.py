"""Sphinx configuration for the skytells-lab docs (myst-nb + furo).

The tutorials are the notebooks of ``notebooks/`` (``docs/tutorials`` is a link to that folder), saved
without outputs. Two ways to get their outputs into the site:

* ``SKYTELLS_LAB_EXECUTED_NOTEBOOKS=/some/dir`` names a folder of already executed copies (the test
  suite writes them once per session): each tutorial is rendered from its copy there, nothing runs.
* otherwise myst-nb executes every tutorial itself on the embedded local server, and a cell that
  raises fails the build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` works alone.
"""

from __future__ import annotations

import enum
import functools
import inspect
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the source checkout, when the package is not installed

import skytells_lab

project = "skytells-lab"
author = "the skytells-lab authors"
copyright = "2026, the skytells-lab authors"
release = skytells_lab.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# notebooks/ may hold data files and notes beside the tutorials: only the notebooks there are pages
include_patterns = ["*.md", "guides/*.md", "reference/*.md", "tutorials/*.ipynb"]
exclude_patterns = ["_build", "jupyter_execute", "**/.ipynb_checkpoints"]

html_theme = "furo"
html_title = f"skytells-lab {release}"

# --- MyST and notebooks -----------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

EXECUTED = os.environ.get("SKYTELLS_LAB_EXECUTED_NOTEBOOKS")
if EXECUTED:
    nb_execution_mode = "off"
else:
    nb_execution_mode = "force"
    nb_execution_raise_on_error = True
    nb_execution_timeout = 900
nb_execution_show_tb = True
nb_merge_streams = True
# Widgets show their static pictures (text/html, image/png: the map as a PNG of all its points), not a
# live view from a CDN script, which is an empty box offline and for widgets whose front end is not there.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}

# --- API reference ------------------------------------------------------------------------------
# every public method and property is listed, documented or not (tests/test_docs.py checks the surface)
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autoclass_content = "both"
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# docstrings write names and expressions in single backticks: link them when they name an object
default_role = "py:obj"


def _markdown_fences_to_rst(app, what, name, obj, options, lines: list[str]) -> None:
    """Docstrings may show examples in Markdown fences (```python ... ```): render them as code blocks."""
    out: list[str] = []
    fence_indent = None
    for line in lines:
        stripped = line.strip()
        if fence_indent is None and stripped.startswith("```"):
            fence_indent = line[: len(line) - len(line.lstrip())]
            language = stripped[3:].strip() or "text"
            if out and out[-1].strip():
                out.append("")
            out += [f"{fence_indent}.. code-block:: {language}", ""]
        elif fence_indent is not None and stripped == "```":
            fence_indent = None
            out.append("")
        elif fence_indent is not None:
            out.append(f"{fence_indent}   {line[len(fence_indent):]}" if line.strip() else "")
        else:
            out.append(line)
    lines[:] = out


def _skip_undocumented_fields(app, what, name, obj, skip, options) -> bool | None:
    """``undoc-members`` is for methods and properties: a class's plain data attributes (pydantic fields,
    dataclass fields) stay out unless documented, as without the option; enum members stay in."""
    if what == "class" and name.startswith("set_") and name.endswith("_request"):
        return True  # scikit-learn's generated metadata-routing setters (set_fit_request, ...)
    if skip or what != "class" or inspect.isroutine(obj) or inspect.isclass(obj):
        return None
    if isinstance(obj, (property, functools.cached_property, classmethod, staticmethod, enum.Enum)):
        return None
    return True if obj is None or obj.__doc__ == type(obj).__doc__ else None


def _use_executed_copy(app, docname: str, source: list[str]) -> None:
    """Render a tutorial from its executed copy (same file name) instead of the saved, output-less one."""
    if not EXECUTED or not docname.startswith("tutorials/"):
        return
    copy = Path(EXECUTED) / (docname.split("/", 1)[1] + ".ipynb")
    if not copy.is_file():
        raise FileNotFoundError(
            f"SKYTELLS_LAB_EXECUTED_NOTEBOOKS={EXECUTED} has no executed copy of {docname}.ipynb"
        )
    source[0] = copy.read_text(encoding="utf-8")


def setup(app):
    app.connect("source-read", _use_executed_copy)
    app.connect("autodoc-process-docstring", _markdown_fences_to_rst)
    app.connect("autodoc-skip-member", _skip_undocumented_fields)
    return {"parallel_read_safe": True}
