"""Run a tutorial notebook headless and keep an executed HTML copy (`skytells-lab tour`)."""

from __future__ import annotations

from pathlib import Path


def execute_notebook(path: Path, *, timeout: int = 900, kernel_name: str = "python3"):
    """Execute `path` top to bottom in a fresh kernel started in its folder; returns the notebook node."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,  # the executed copy reopens in JupyterLab with its widgets
    ).execute()
    return notebook


def run_notebook(path: Path, output_html: Path, *, timeout: int = 900) -> Path:
    """Execute `path` and write it, with its outputs, as a standalone HTML page at `output_html`.

    The page shows each widget's static picture (its text/html and image/png outputs): with the widget
    state kept, nbconvert would render the live widgets through a script from a CDN instead, an empty
    box offline and for any widget whose front end is not on that CDN."""
    from nbconvert import HTMLExporter

    notebook = execute_notebook(Path(path), timeout=timeout)
    notebook.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    output_html = Path(output_html)
    output_html.parent.mkdir(parents=True, exist_ok=True)
    output_html.write_text(body, encoding="utf-8")
    return output_html
