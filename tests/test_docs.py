"""The docs site builds with warnings as errors, from the tutorials executed once in this session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from notebooks_support import REPO, executed_notebooks  # noqa: F401  (fixture)

# the build itself takes well under a minute, but if this test runs first it executes every tutorial
pytestmark = pytest.mark.timeout(2400)


def test_docs_build_with_warnings_as_errors(executed_notebooks, tmp_path):  # noqa: F811
    executions = executed_notebooks.all()
    out = tmp_path / "html"
    env = {**os.environ, "SKYTELLS_LAB_EXECUTED_NOTEBOOKS": str(executed_notebooks.folder)}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         "-d", str(tmp_path / "doctrees"), str(REPO / "docs"), str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-10000:]}"
    assert (out / "index.html").is_file()
    assert (out / "reference" / "api.html").is_file()
    for execution in executions:
        page = out / "tutorials" / (execution.path.stem + ".html")
        assert page.is_file(), f"no docs page for {execution.name}"
