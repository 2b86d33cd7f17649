"""Every tutorial in notebooks/ runs top to bottom on the embedded local server, and leaks no key.

Each notebook is executed once per session (see notebooks_support.py); test_docs.py renders the same
executed copies into the docs site.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from notebooks_support import NOTEBOOKS, executed_notebooks, leaked_keys  # noqa: F401  (fixture)

# executing a tutorial takes a minute or two on 2 cores, over pytest's per-test default
pytestmark = pytest.mark.timeout(1200)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_error(notebook, executed_notebooks):  # noqa: F811
    execution = executed_notebooks.get(notebook)
    assert execution.error is None, f"{notebook.name} failed after {execution.seconds:.0f} s:\n{execution.error}"
    print(f"{notebook.name}: {execution.seconds:.1f} s")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_hold_no_key(notebook, executed_notebooks):  # noqa: F811
    execution = executed_notebooks.get(notebook)
    assert not leaked_keys(execution.copy), f"an API key appears in the outputs of {notebook.name}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_saved_clean(notebook):
    """Saved without outputs or execution counts, for the python3 kernel: diffs stay readable."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{notebook.name} is saved with outputs: clear them before committing")


def test_every_tutorial_is_numbered():
    assert NOTEBOOKS, "no notebooks/*.ipynb"
    for notebook in NOTEBOOKS:
        assert notebook.name[:2].isdigit() and notebook.name[2] == "-", notebook.name


# what a model library prints while loading or saving weights: never part of a tutorial's output
LIBRARY_BARS = ("Loading weights", "Writing model shards", "Loading checkpoint shards", "Loading pipeline components",
                "Fetching ")
WARNING_LINE = re.compile(r"^\S*Warning: |^WARNING", re.MULTILINE)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_look_right(notebook, executed_notebooks):  # noqa: F811
    """One stream block per cell and stream (a streamed reply is not one block per chunk), no library
    progress bars, no warnings."""
    execution = executed_notebooks.get(notebook)
    copy = nbformat.read(execution.copy, as_version=4)
    for number, cell in enumerate(copy.cells, start=1):
        outputs = cell.get("outputs", [])
        names = [o["name"] for o in outputs if o["output_type"] == "stream"]
        assert len(names) == len(set(names)), f"{notebook.name} cell {number}: {len(names)} stream blocks"
        for output in outputs:
            text = json.dumps(output).replace("\\u2007", " ").replace("\\/", "/")
            for bar in LIBRARY_BARS:
                assert bar not in text, f"{notebook.name} cell {number} shows a library's bar: {bar!r}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                assert not WARNING_LINE.search(output["text"]), (
                    f"{notebook.name} cell {number} shows a warning:\n{output['text'][:2000]}")


@pytest.mark.parametrize("name", ["01", "02", "03", "04", "05", "06", "07", "08"])
def test_tutorial_states_its_runtime_on_two_cores(name):
    (notebook,) = [p for p in NOTEBOOKS if p.name.startswith(name + "-")]
    first = json.loads(notebook.read_text(encoding="utf-8"))["cells"][0]
    assert first["cell_type"] == "markdown"
    assert re.search(r"\*\*Runtime:\*\* about .+ on two CPU cores", "".join(first["source"])), notebook.name
