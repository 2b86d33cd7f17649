"""Execute every tutorial once per test session; test_notebooks.py and test_docs.py share the results.

Both modules import :func:`executed_notebooks`. pytest would give each importing module its own copy of a
session fixture, so the executions are memoized here, in this module, and a notebook runs at most once per
session whichever test asks first. The executed copies (with their outputs) go to one session tmp dir,
which the docs build renders instead of executing the notebooks again.
"""

from __future__ import annotations

import os
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tutorials() -> list[Path]:
    return sorted((REPO / "notebooks").glob("*.ipynb"))


NOTEBOOKS = tutorials()  # the parametrization of test_notebooks.py
CELL_TIMEOUT = 600  # seconds per cell; a tutorial should take a few minutes in all

# An API key in an output: a service key (sk-...), or the key a test server was started with.
KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")


@dataclass
class Execution:
    path: Path          # the tutorial in notebooks/
    copy: Path          # the executed copy (the saved notebook when execution failed before any output)
    seconds: float
    error: str | None   # the exception, when a cell raised or the kernel died

    @property
    def name(self) -> str:
        return self.path.name


class _Executions:
    def __init__(self, folder: Path, server_url: str) -> None:
        self.folder = folder
        self.server_url = server_url
        self.results: dict[str, Execution] = {}

    def get(self, path: Path) -> Execution:
        if path.name not in self.results:
            self.results[path.name] = _execute(path, self.folder, self.server_url)
        return self.results[path.name]

    def all(self) -> list[Execution]:
        """Every tutorial there is now (the docs render them all), each executed once."""
        return [self.get(path) for path in tutorials()]


def _execute(path: Path, folder: Path, server_url: str) -> Execution:
    import nbformat

    from skytells_lab.notebook.tour import NotebookFailed, execute_notebook

    # The tutorials run with no key, on the session's embedded local server: `sl.connect()` in a kernel
    # finds it through SKYTELLS_BASE_URL (as under `skytells-lab lab`), so the models load once, not per kernel.
    saved = {name: os.environ.pop(name, None) for name in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL")}
    os.environ["SKYTELLS_BASE_URL"] = server_url
    copy = folder / path.name
    start = time.perf_counter()
    error = None
    try:
        notebook = execute_notebook(path, timeout=CELL_TIMEOUT)
    except NotebookFailed as exc:  # a cell raised, the kernel died or timed out: reported by the test
        error = f"{exc}\n{exc.error}"
        notebook = exc.notebook
    except Exception as exc:  # noqa: BLE001 - the kernel did not start: reported by the test too
        error = "".join(traceback.format_exception_only(type(exc), exc))
        notebook = nbformat.read(path, as_version=4)
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    seconds = time.perf_counter() - start
    nbformat.write(notebook, copy)
    return Execution(path=path, copy=copy, seconds=seconds, error=error)


_SESSION: _Executions | None = None


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory, local_server) -> _Executions:
    """The executions of this session, run on first request of each notebook."""
    global _SESSION
    if _SESSION is None:
        _SESSION = _Executions(tmp_path_factory.mktemp("executed-notebooks"), local_server.url)
    return _SESSION


def output_texts(notebook_path: Path) -> list[str]:
    """Every output of every code cell of a notebook file, as text (streams, data of every MIME type, errors)."""
    import json

    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(json.dumps(output))
    return texts


def leaked_keys(notebook_path: Path, extra_secrets: tuple[str, ...] = ()) -> list[str]:
    found = []
    for text in output_texts(notebook_path):
        found += KEY_PATTERN.findall(text)
        found += [secret for secret in extra_secrets if secret and secret in text]
    return found
