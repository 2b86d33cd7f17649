"""Everything survives a restart on the same data dir; a SIGKILL mid-run leaves a failed prediction."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _local_helpers import wait_status

from skytells_lab.local import start_server

FAST = {"prompt": "2", "num_inference_steps": 4, "seed": 5}
SLOW = {"prompt": "8", "num_inference_steps": 200, "num_outputs": 4}


def test_restart_keeps_predictions_and_outputs_and_fails_the_unfinished(tmp_path, real_runners):
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners) as srv, \
            httpx.Client(base_url=srv.url, timeout=600) as client:
        done = client.post("/predict", json={"model": "digits-diffusion", "input": FAST, "await": True}).json()
        unfinished = client.post("/predictions", json={"model": "digits-diffusion", "input": SLOW}).json()
        queued = client.post("/predictions", json={"model": "digits-diffusion", "input": SLOW}).json()
        image = client.get(done["output"][0]).content
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners) as srv, \
            httpx.Client(base_url=srv.url) as client:  # a new port: URLs follow the server
        again = client.get(f"/predictions/{done['id']}").json()
        assert again["status"] == "succeeded" and again["input"] == done["input"]
        assert again["created_at"] == done["created_at"] and again["output"][0].startswith(srv.url)
        assert client.get(again["output"][0]).content == image
        for pid in (unfinished["id"], queued["id"]):
            failed = client.get(f"/predictions/{pid}").json()
            assert failed["status"] == "failed" and "shut down" in failed["error"]
        assert client.get("/predictions").json()["pagination"]["total"] == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-m", "skytells_lab.local", "--port", str(port), "--device", "cpu",
                             "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, "the server process exited"
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.1)


def test_sigkill_mid_run_then_restart_marks_it_failed(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    proc = _spawn(tmp_path, port)
    try:
        _wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=600) as client:
            done = client.post("/predict", json={"model": "digits-diffusion", "input": FAST, "await": True}).json()
            running = client.post("/predictions", json={"model": "digits-diffusion", "input": SLOW}).json()
            wait_status(client, running["id"], ("processing",))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    proc = _spawn(tmp_path, port)
    try:
        _wait_up(url, proc)
        with httpx.Client(base_url=url) as client:
            crashed = client.get(f"/predictions/{running['id']}").json()
            assert crashed["status"] == "failed" and "crash" in crashed["error"] and crashed["completed_at"]
            kept = client.get(f"/predictions/{done['id']}").json()
            assert kept["status"] == "succeeded" and client.get(kept["output"][0]).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
