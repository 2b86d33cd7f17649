"""The Playground in a real JupyterLab, driven in Debian's Chromium by Playwright for Python.

JupyterLab runs on a loopback port with a token and fresh config dirs; the notebook connects to the
embedded local server (`sl.connect()`), shows a Playground; the browser picks the local image model,
types a prompt, clicks Run and waits for the status and the generated <img>. The screenshot and the
phase timings are kept under artifacts/. No sleeps: Playwright's expect() polls.

The JupyterLab and its notebook come from lab_support.py (shared with test_map_browser.py).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from lab_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Phases, running_lab

IMAGE_MODEL_OPTION = "digits-diffusion  \u00b7  image"  # the option text ModelPicker gives the model

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"),
    pytest.mark.timeout(420),
]

NOTEBOOK_CELLS = [
    ("import skytells_lab as sl\nfrom skytells_lab.widgets import Playground\n\n"
     "client = sl.connect()  # no key: the embedded local server"),
    "pg = Playground(client)\npg",
]


@pytest.fixture
def lab(tmp_path):
    """(base URL, token, notebook name) of a JupyterLab serving a Playground notebook."""
    with running_lab(tmp_path / "lab", NOTEBOOK_CELLS, "playground.ipynb") as served:
        yield served


def test_playground_runs_the_local_image_model_in_jupyterlab(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, notebook = lab
    ARTIFACTS.mkdir(exist_ok=True)
    clock = Phases()
    mark, timings, started = clock.mark, clock.timings, clock.started

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{notebook}?token={token}", wait_until="domcontentloaded")
            expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible(timeout=60_000)
            expect(page.locator(".jp-Cell .jp-InputArea-editor").nth(1)).to_contain_text("Playground(client)",
                                                                                       timeout=30_000)
            mark("page_load")
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Python 3 (ipykernel) | Idle",
                                                                       timeout=60_000)
            expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_have_count(1,
                                                                                                   timeout=60_000)
            mark("kernel_ready")

            page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator('#jp-mainmenu-run .lm-Menu-item[data-command="runmenu:run-all"]').click()
            playground = page.locator(".jp-OutputArea-output .sl-playground")
            expect(playground).to_be_visible(timeout=180_000)
            mark("cells_run_widget_shown")

            picker = playground.locator(".sl-picker-list select")
            picker.select_option(value=IMAGE_MODEL_OPTION)
            expect(playground.locator(".sl-picker-badges")).to_contain_text("image", timeout=30_000)
            expect(playground.locator(".sl-picker-badges")).to_contain_text("local")
            prompt = playground.locator(".sl-field-prompt textarea")
            expect(prompt).to_be_visible(timeout=30_000)
            expect(playground.locator(".sl-field-num_inference_steps")).to_be_visible()
            prompt.fill("a handwritten 7")
            mark("model_picked")

            playground.locator("button.sl-run").click()
            status = playground.locator(".sl-status .sl-status-line")
            states = re.compile(r"starting|pending|started|processing|succeeded")
            expect(status).to_have_attribute("data-status", states, timeout=30_000)
            expect(playground.locator('.sl-status [data-status="succeeded"]')).to_be_visible(timeout=180_000)
            image = playground.locator(".sl-output img.sl-output-image").first
            expect(image).to_be_visible(timeout=30_000)
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
            assert image.get_attribute("src").startswith("data:image/png;base64,")
            expect(playground.locator("button.sl-run")).to_be_enabled()
            mark("run_to_image")
            page.screenshot(path=str(ARTIFACTS / "playground-browser.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "playground-browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    timings["total"] = round(time.monotonic() - started, 2)
    (ARTIFACTS / "playground-browser-timings.json").write_text(json.dumps(timings, indent=1), encoding="utf-8")
    print("browser test timings (s):", timings)
