"""An executed notebook reopened in a real JupyterLab, with a fresh kernel, shows its widgets.

Two ways a user gets such a notebook: executed headless (`skytells-lab tour`, the docs, nbclient with the
widget state stored), or run in JupyterLab and saved there (the settings `skytells-lab lab` and Binder give
JupyterLab save the widget state into the notebook). Either way, opening it again later starts a new kernel
that holds none of the widgets' models: the widgets must render from the state saved in the notebook, not
as "Error displaying widget: model not found". Debian's Chromium, driven by Playwright; no sleeps.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from lab_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    lab_env,
    open_notebook,
    run_all_cells,
    running_lab,
    write_notebook,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"),
    pytest.mark.timeout(480),
]

CELLS = [
    ("import ipywidgets as widgets\n\nimport skytells_lab as sl\nfrom skytells_lab.widgets import Playground\n\n"
     "client = sl.connect()  # no key: the embedded local server"),
    ('slider = widgets.IntSlider(value=7, max=10, description="reopened")\nslider.add_class("sl-reopen-slider")\n'
     "slider"),
    "pg = Playground(client)\npg",
]
BROKEN = re.compile(r"Error displaying widget|model not found|Loading widget", re.IGNORECASE)


def _saved_state(path: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = json.loads(path.read_text())["metadata"]["widgets"][
                "application/vnd.jupyter.widget-state+json"]["state"]
            if state:
                return state
        except (KeyError, ValueError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path.name} was not saved with widget state within {timeout} s")


def _kernel_ids(base: str, token: str) -> set[str]:
    import httpx

    kernels = httpx.get(f"{base}/api/kernels", headers={"Authorization": f"token {token}"}, timeout=10).json()
    return {k["id"] for k in kernels}


def _close_sessions(base: str, token: str) -> None:
    """End every notebook's session, its kernel shut down with it (File > Close and Shut Down Notebook)."""
    import httpx

    auth = {"Authorization": f"token {token}"}
    for session in httpx.get(f"{base}/api/sessions", headers=auth, timeout=10).json():
        httpx.delete(f"{base}/api/sessions/{session['id']}", headers=auth, timeout=30).raise_for_status()
    assert not _kernel_ids(base, token)


def _assert_widgets_render(page, what: str) -> None:
    """The slider with its saved value and the Playground, from the notebook's saved state."""
    from playwright.sync_api import expect

    slider = page.locator(".jp-OutputArea-output .sl-reopen-slider")
    expect(slider).to_be_visible(timeout=90_000)
    expect(slider.locator(".widget-readout")).to_have_text("7")
    playground = page.locator(".jp-OutputArea-output .jupyter-widgets.sl-playground")  # the widget view
    expect(playground).to_be_visible(timeout=30_000)
    expect(playground.locator("select").first).to_be_visible()
    expect(page.locator(".jp-OutputArea-output .sl-static")).to_have_count(0)  # no static snapshot
    outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    assert not BROKEN.search(outputs), f"{what}: a widget did not render: {BROKEN.search(outputs).group(0)!r}"


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _trust(notebook: Path, run: Path) -> None:
    """`jupyter trust`, with the data dir of the lab under `run` (where JupyterLab looks the signature up)."""
    import subprocess
    import sys

    env = dict(os.environ, JUPYTER_DATA_DIR=str(run / "jupyter_data_dir"),
               JUPYTER_CONFIG_DIR=str(run / "jupyter_config_dir"), JUPYTER_PLATFORM_DIRS="1")
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(notebook)], env=env, check=True,
                   capture_output=True, timeout=60)


def test_a_notebook_executed_headless_reopens_with_its_widgets(tmp_path, monkeypatch):
    """Executed by nbclient (as `skytells-lab tour` and the docs execute tutorials), then opened in JupyterLab:
    its kernel is a new one that never ran a cell. Untrusted (a notebook someone else executed), JupyterLab
    renders no widget from it, and the project's widgets show their static snapshot instead; once trusted
    (`jupyter trust`, or File > Trust Notebook), the widgets render from the stored state."""
    from playwright.sync_api import expect, sync_playwright

    from skytells_lab.notebook.tour import execute_notebook

    run = tmp_path / "lab"
    with running_lab(run, ["print('placeholder')"], "placeholder.ipynb") as (base, token, _):
        source = run / "root" / "executed.ipynb"
        write_notebook(source, CELLS)
        for name, value in lab_env(tmp_path / "headless").items():  # the kernel's environment, as in the lab
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SKYTELLS_BASE_URL", raising=False)
        nbformat.write(execute_notebook(source, timeout=300), source)
        assert _saved_state(source, timeout=1)

        with sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            try:
                open_notebook(page, base, token, "executed.ipynb", "Playground(client)")
                assert len(_kernel_ids(base, token)) == 1  # the fresh kernel the page started
                snapshot = page.locator(".jp-OutputArea-output").filter(has_text="static snapshot")
                expect(snapshot).to_have_count(1, timeout=60_000)
                expect(page.locator(".jp-OutputArea-output .sl-reopen-slider")).to_have_count(0)
                page.close()

                _trust(source, run)
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                open_notebook(page, base, token, "executed.ipynb", "Playground(client)")
                _assert_widgets_render(page, "executed headless, trusted")
            finally:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "reopen-headless.png"), full_page=True)
                browser.close()


def test_a_notebook_run_and_saved_in_jupyterlab_reopens_with_its_widgets(tmp_path):
    """Run in JupyterLab and saved (Ctrl+S), its kernel shut down, the page loaded again: a new kernel, and
    the widgets render from the state JupyterLab saved into the notebook."""
    from playwright.sync_api import sync_playwright

    with running_lab(tmp_path / "lab", CELLS, "saved.ipynb") as (base, token, notebook), sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            open_notebook(page, base, token, notebook, "Playground(client)")
            run_all_cells(page)
            _assert_widgets_render(page, "run in JupyterLab")
            page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
            page.keyboard.press("Control+s")
            assert _saved_state(tmp_path / "lab" / "root" / notebook)
            first = _kernel_ids(base, token)
            _close_sessions(base, token)
            page.close()

            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            open_notebook(page, base, token, notebook, "Playground(client)")
            fresh = _kernel_ids(base, token)
            assert fresh and not fresh & first  # a new kernel, holding none of the widgets' models
            _assert_widgets_render(page, "reopened after a save")
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "reopen-saved.png"), full_page=True)
            browser.close()
