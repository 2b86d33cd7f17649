"""A JupyterLab on a loopback port and a Chromium page on it: what the browser tests and bench_map.py share.

JupyterLab runs with a token, fresh config dirs and a kernel spec on this interpreter; the page opens a
notebook written from a list of cell sources and can run all its cells. Recipe and pitfalls:
/work/shared/BROWSER-TESTING.md. KEEP_RUN_DIR=1 keeps the server log and notebook under artifacts/,
CHROMIUM=... picks another Chromium binary.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# WebGL in software (SwiftShader), for jupyter-scatter's map
WEBGL_ARGS = ["--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
              "--ignore-gpu-blocklist", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(cells)]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                            "language": "python"},
                             "language_info": {"name": "python"}}}
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def lab_env(run: Path) -> dict[str, str]:
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


@contextlib.contextmanager
def running_lab(run: Path, cells: list[str], name: str = "test.ipynb") -> Iterator[tuple[str, str, str]]:
    """(base URL, token, notebook name) of a JupyterLab serving a notebook of `cells`, stopped on exit; with
    the settings `skytells-lab lab` gives it (widget state saved into notebooks, the maps' front end served
    once by the server)."""
    from skytells_lab.cli import lab_settings_dir
    from skytells_lab.widgets.map_bundle import server_extension_args

    root = run / "root"
    root.mkdir(parents=True)
    write_notebook(root / name, cells)
    token, port = secrets.token_hex(16), free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--IdentityProvider.token={token}",
           "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", f"--LabApp.app_settings_dir={lab_settings_dir()}",
           *server_extension_args()]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (run / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=lab_env(run), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, token, run / "server.log")
        yield base, token, name
    finally:
        _stop(proc, base, token)
        log.close()
        if os.environ.get("KEEP_RUN_DIR"):
            kept = ARTIFACTS / f"browser-run-{Path(name).stem}"
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


def open_notebook(page, base: str, token: str, name: str, last_cell_text: str) -> None:
    """Load the notebook and wait for its kernel to be idle."""
    from playwright.sync_api import expect

    page.goto(f"{base}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
    expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible(timeout=60_000)
    expect(page.locator(".jp-Cell .jp-InputArea-editor").last).to_contain_text(last_cell_text, timeout=30_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Python 3 (ipykernel) | Idle", timeout=60_000)
    expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_have_count(1, timeout=60_000)


def run_all_cells(page) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('#jp-mainmenu-run .lm-Menu-item[data-command="runmenu:run-all"]').click()


def run_cell(page, index: int) -> None:
    """Select cell `index` (command mode) and press Shift+Enter, as a user does."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")


class Phases:
    """Seconds spent in each named phase of a browser run (kept with the screenshots as artifacts)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.started = self._last = time.monotonic()

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = round(now - self._last, 2)
        self._last = now
