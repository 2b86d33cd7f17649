"""Run a tutorial notebook headless and keep an executed HTML copy (`skytells-lab tour`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


class NotebookFailed(RuntimeError):
    """A cell of an executed notebook raised (or its kernel died or timed out).

    ``cell`` is the number of the failing cell as JupyterLab counts it (1 = the first cell, markdown
    included), ``notebook`` the notebook with the outputs it had so far (the error among them).
    """

    def __init__(self, path: Path, cell: int | None, source: str, error: BaseException, notebook: Any) -> None:
        self.path = Path(path)
        self.cell = cell
        self.notebook = notebook
        self.error = error
        where = f"cell {cell}" if cell is not None else "a cell"
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        detail = (f"{error.ename}: {error.evalue}" if hasattr(error, "ename")
                  else f"{type(error).__name__}: {error}".strip())
        super().__init__(f"{self.path.name}: {where} failed ({first_line[:80]!r}): {detail}")


def execute_notebook(path: Path, *, timeout: int = 900, kernel_name: str = "python3"):
    """Execute `path` top to bottom in a fresh kernel started in its folder; returns the notebook node.

    The outputs are as JupyterLab shows them: consecutive stream outputs of a cell are merged into one
    (a streamed chat reply is one block, not one per flushed chunk). The kernel talks over local IPC
    sockets, not loopback TCP. A failing cell raises :class:`NotebookFailed`, which
    names the cell.
    """
    import nbformat
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="skytells-kernel-") as sockets:
        # IPC transport: the kernel's channels are socket files in a private folder (given as an absolute
        # path: the kernel runs in the notebook's folder), so nothing listens on a port and ipykernel does
        # not warn about unencrypted TCP
        manager = AsyncKernelManager(kernel_name=kernel_name, transport="ipc",
                                     connection_file=str(Path(sockets) / "kernel.json"))
        client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name=kernel_name,
                                coalesce_streams=True, resources={"metadata": {"path": str(path.parent)}},
                                store_widget_state=True)  # reopens in JupyterLab with its widgets
        try:
            client.execute(cleanup_kc=True)  # shut the kernel down after, as when nbclient makes the manager
        except Exception as exc:  # CellExecutionError, DeadKernelError, CellTimeoutError
            index = _failed_cell(notebook)
            source = notebook.cells[index].source if index is not None else ""
            raise NotebookFailed(path, None if index is None else index + 1, source, exc, notebook) from exc
    return notebook


def _failed_cell(notebook: Any) -> int | None:
    """The index of the cell that stopped the run: the one with an error output, else the last one run."""
    last_run = None
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            return index
        if cell.get("execution_count") is not None or cell.get("outputs"):
            last_run = index
    return last_run


def write_html(notebook: Any, output_html: Path) -> Path:
    """The executed notebook as a standalone HTML page at `output_html`.

    The page shows each widget's static picture (its text/html and image/png outputs): with the widget
    state kept, nbconvert would render the live widgets through a script from a CDN instead, an empty
    box offline and for any widget whose front end is not on that CDN."""
    from nbconvert import HTMLExporter

    widgets = notebook.metadata.pop("widgets", None)
    try:
        body, _ = HTMLExporter().from_notebook_node(notebook)
    finally:
        if widgets is not None:
            notebook.metadata["widgets"] = widgets
    output_html = Path(output_html)
    output_html.parent.mkdir(parents=True, exist_ok=True)
    output_html.write_text(body, encoding="utf-8")
    return output_html


def run_notebook(path: Path, output_html: Path, *, timeout: int = 900) -> Path:
    """Execute `path` and write it, with its outputs, as a standalone HTML page at `output_html`.

    When a cell fails, the page is written with the outputs so far (the error included) and
    :class:`NotebookFailed` is raised.
    """
    try:
        notebook = execute_notebook(Path(path), timeout=timeout)
    except NotebookFailed as failed:
        write_html(failed.notebook, output_html)
        raise
    return write_html(notebook, output_html)
