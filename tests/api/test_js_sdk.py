"""The official `skytells` npm SDK against the local server: models, a prediction created, polled, awaited,
listed where the SDK can, cancelled and deleted; chat, embeddings and responses where the version has them.

The package is installed from tests/js/package.json + package-lock.json (`.ci/run` runs `npm ci` there);
the test skips only when node is not installed. The versions tested are printed in the test output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node/npm are not installed: apt-get install nodejs npm")


@pytest.fixture(scope="module")
def sdk_installed():
    if not (JS / "node_modules" / "skytells" / "package.json").is_file():
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, f"npm ci in {JS} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return JS


def test_the_official_js_sdk_runs_its_scenario_against_the_local_server(sdk_installed, local_server):
    proc = subprocess.run(["node", "sdk_scenario.mjs", local_server.url], cwd=sdk_installed, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"node {result['node']}, skytells (npm) {result['skytells']}")  # shown with pytest -s / -rA
    steps = result["steps"]
    print(json.dumps(steps, indent=1))
    locked = json.loads((JS / "package-lock.json").read_text())["packages"]["node_modules/skytells"]["version"]
    assert result["skytells"] == locked
    assert {"digits-diffusion", "all-minilm-l6-v2", "smollm2-135m-instruct"} <= set(steps["models"]["slugs"])
    assert steps["create"]["status"] in ("pending", "starting", "processing", "succeeded")
    assert steps["create"]["stream_url"] is True
    assert steps["poll"] == {"status": "succeeded", "outputs": 1}
    assert steps["await"] == {"status": "succeeded", "outputs": 1}
    assert steps["stream_info"]["id"] and steps["stream_info"]["status"] == "succeeded"
    assert steps["cancel"] == {"status": "cancelled", "after": "cancelled"}
    assert steps["delete"]["gone"] is True and steps["delete"]["httpStatus"] == 502  # the service's unknown id
    if steps["list"] != "absent":
        assert steps["list"]["count"] >= 1
    for name, check in (("chat", lambda s: s["choices"] == 1), ("embeddings", lambda s: s["dim"] == 384),
                        ("responses", lambda s: s["object"] == "response")):
        if steps[name] != "absent":
            assert "error" not in steps[name] and check(steps[name]), steps[name]
