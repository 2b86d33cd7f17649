"""The Playground in a real JupyterLab, driven in Debian's Chromium by Playwright for Python.

JupyterLab runs on a loopback port with a token and fresh config dirs; the notebook connects to the
embedded local server (`sl.connect()`), shows a Playground; the browser picks the local image model,
types a prompt, clicks Run and waits for the status and the generated <img>. The screenshot and the
phase timings are kept under artifacts/. No sleeps: Playwright's expect() polls.

Recipe and pitfalls: /work/shared/BROWSER-TESTING.md. Set KEEP_RUN_DIR=1 to keep the server log and
notebook, CHROMIUM=... to use another Chromium binary.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(NOTEBOOK_CELLS)]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                            "language": "python"},
                             "language_info": {"name": "python"}}}
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def _lab_env(run: Path) -> dict[str, str]:
    dirs = {name: run / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                                                  "IPYTHONDIR", "JUPYTERLAB_SETTINGS_DIR",
                                                  "JUPYTERLAB_WORKSPACES_DIR")}
    for folder in dirs.values():
        folder.mkdir(parents=True)
    # the kernel runs this interpreter (the project's venv), whatever `python` PATH finds
    spec = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}), encoding="utf-8")
    notifications = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL")}
    env.update({k: str(v) for k, v in dirs.items()})
    env.update({
        "JUPYTER_PLATFORM_DIRS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        "SKYTELLS_LAB_HOME": str(run / "skytells-home"),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
    })
    return env


@pytest.fixture
def lab(tmp_path):
    """(base URL, token, notebook name) of a JupyterLab serving a Playground notebook."""
    run = tmp_path / "lab"
    root = run / "root"
    root.mkdir(parents=True)
    _write_notebook(root / "playground.ipynb")
    token, port = secrets.token_hex(16), _free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--IdentityProvider.token={token}",
           "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (run / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=_lab_env(run), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, token, run / "server.log")
        yield base, token, "playground.ipynb"
    finally:
        _stop(proc, base, token)
        log.close()
        if os.environ.get("KEEP_RUN_DIR"):
            kept = ARTIFACTS / "browser-run"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(run, kept, ignore=shutil.ignore_patterns("skytells-home", "jupyter_data_dir"))


def _wait_ready(proc: subprocess.Popen, base: str, token: str, log: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        proc_wait = min(0.2, max(0.0, deadline - time.monotonic()))
        try:
            proc.wait(proc_wait)  # a poll interval that also notices the server dying
        except subprocess.TimeoutExpired:
            pass
    raise RuntimeError(f"jupyter lab not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, base: str, token: str) -> None:
    import httpx

    try:
        httpx.post(f"{base}/api/shutdown", headers={"Authorization": f"token {token}"}, timeout=5)
        proc.wait(15)
    except (httpx.HTTPError, subprocess.TimeoutExpired):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # kernels and the local server the kernel started
    except (ProcessLookupError, PermissionError):
        pass


def test_playground_runs_the_local_image_model_in_jupyterlab(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, notebook = lab
    ARTIFACTS.mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    started = last = time.monotonic()

    def mark(phase: str) -> None:
        nonlocal last
        now = time.monotonic()
        timings[phase] = round(now - last, 2)
        last = now

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
