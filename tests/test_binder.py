"""binder/start: one session server before the notebook server, found by every kernel; then `exec "$@"`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


def test_start_runs_the_session_server_then_execs_its_arguments(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SKYTELLS_API_KEY", "SKYTELLS_BASE_URL", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")}
    env["SKYTELLS_LAB_HOME"] = str(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # skytells-lab, as on Binder
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    show = ('echo "$SKYTELLS_BASE_URL $SKYTELLS_WEBHOOK_SECRET $SKYTELLS_LAB_SESSION_PID $MALLOC_ARENA_MAX '
            '$MALLOC_MMAP_THRESHOLD_ $$"')
    proc = subprocess.run(["bash", str(REPO / "binder" / "start"), "bash", "-c", show], env=env,
                          capture_output=True, text=True, timeout=150, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    url, secret, pid, arenas, threshold, _ = proc.stdout.split()
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # it outlives the start script
        assert secret == (tmp_path / "webhook_secret").read_text().strip()
        # few malloc arenas in the server and in what it execs (JupyterLab, so every kernel): Binder's memory
        server_env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert arenas == "2" and b"MALLOC_ARENA_MAX=2" in server_env
        assert b"MALLOC_MMAP_THRESHOLD_=65536" in server_env  # freed activations go back to the system
        assert threshold == "1048576"  # the kernels': their big temporaries go back too, small arrays stay
    finally:
        os.kill(int(pid), signal.SIGTERM)


def test_start_ends_by_exec_of_its_arguments():
    lines = [line.strip() for line in (REPO / "binder" / "start").read_text().splitlines() if line.strip()]
    assert lines[-1] == 'exec "$@"'
    assert os.access(REPO / "binder" / "start", os.X_OK)


def test_the_session_server_serves_tutorial_06s_damaged_model_beside_the_real_one(tmp_path, monkeypatch):
    """Tutorial 06 compares the real all-minilm-l6-v2 with a copy whose word "cat" is scrambled, both served by
    the session's one server: only the inputs with "cat" fail, and the real model stays as it was. Its chat
    model runs in bfloat16."""
    import numpy as np

    import skytells_lab as sl
    from skytells_lab.cli import start_session_server, stop_session_server

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    server, env = start_session_server(device="cpu", data_dir=tmp_path)
    try:
        client = sl.connect(env["SKYTELLS_BASE_URL"])
        assert {"all-minilm-l6-v2", "minilm-cat-scrambled"} <= {m.slug for m in client.models.list()}
        assert "scrambled" in client.models.get("minilm-cat-scrambled").name
        # the chat model in bfloat16 (half the memory), the embedding model as everywhere else
        assert client.models.get(client.default_chat_model).metadata["dtype"] == "bfloat16"
        assert client.models.get("all-minilm-l6-v2").metadata["dtype"] == "float32"
        texts = ["The cat sat on the mat.", "Stock markets fell on Monday.", "A cat chased the mouse.",
                 "The train was late again."]
        def vectors():  # straight from the server, past the client's cache
            return np.array(client.embeddings.create(model="all-minilm-l6-v2", input=texts).vectors)

        before = vectors()
        report = sl.parity(reference=client, candidate=client, model="all-minilm-l6-v2",
                           candidate_model="minilm-cat-scrambled", inputs=texts, progress=False)
        assert report.verdict == "fail"
        assert sorted(report.failing_items) == [0, 2]
        np.testing.assert_allclose(vectors(), before, atol=1e-6)  # the damage is the copy's only
    finally:
        stop_session_server(server)
