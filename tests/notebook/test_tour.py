"""`skytells-lab tour`: the executed page shows a streamed reply as one block, no model library's progress
bars (the kernel's own embedded server loads a model), no kernel transport warning; a failing cell fails
the command and is named."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

pytestmark = pytest.mark.timeout(600)

STREAMED = "import time\nfor word in 'the sea is salty'.split():\n    print(word, end=' ', flush=True)\n" \
           "    time.sleep(0.05)"
# a model loaded in the kernel, as the kernel's own embedded server does with no SKYTELLS_BASE_URL (loaded
# here in the cell's thread, where a library's bar always lands in the cell's output)
IN_KERNEL_LOAD = "from skytells_lab.local.runners import SentenceTransformerRunner\n" \
                 "runner = SentenceTransformerRunner(device='cpu')\nrunner.load()\n" \
                 "print(runner.embed(['a cat']).shape)"
LIBRARY_BARS = ("Loading weights", "Writing model shards", "Loading checkpoint shards", "it/s]")


def _tour(tmp_path, cells: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# a tour")]
                                        + [nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tour.ipynb"
    nbformat.write(notebook, path)
    html = tmp_path / "tour.html"
    env = {k: v for k, v in os.environ.items() if k not in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL")}
    proc = subprocess.run([sys.executable, "-m", "skytells_lab.cli", "tour", "--notebook", str(path),
                           "--output", str(html), "--timeout", "300"],
                          capture_output=True, text=True, env=env, timeout=560, check=False)
    return proc, html.read_text(encoding="utf-8") if html.exists() else ""


def _stream_blocks(page: str) -> int:
    return page.count('class="jp-RenderedText jp-OutputArea-output" data-mime-type="text/plain"')


def test_the_tour_page_shows_one_stream_block_and_no_library_bars(tmp_path):
    proc, page = _tour(tmp_path, [STREAMED, IN_KERNEL_LOAD])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "<pre>the sea is salty" in page
    assert _stream_blocks(page) == 2, "each cell's stdout should be one output block"
    assert "(1, 384)" in page
    # a tqdm bar in a kernel is a widget: its text is in the page's widget state, JSON-escaped
    shown = page.replace("\\u2007", " ").replace("\\/", "/").replace("\u2007", " ")
    for bar in LIBRARY_BARS:
        assert bar not in shown, f"a model library's progress bar in the tour page: {bar!r}"
    assert "without encryption" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr[-2000:]


def test_the_tour_fails_loudly_naming_the_cell(tmp_path):
    proc, page = _tour(tmp_path, ["x = 1", "1 / 0", "print('never')"])
    assert proc.returncode == 1
    assert "cell 3" in proc.stderr and "ZeroDivisionError" in proc.stderr, proc.stderr[-2000:]
    assert "ZeroDivisionError" in page  # the page keeps the outputs up to the failure
