"""What the client/server benchmarks share: a local server in a child process, the fault proxy, short texts.

The server runs in its own process so the load generator and the server do not share one GIL; it binds to
127.0.0.1 only and is stopped (terminated, then killed) when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "tests")):  # skytells_lab from this checkout; tests/support for the proxy
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["SKYTELLS_LAB_CACHE"] = "0"  # measure the wire and the server, never the notebook layer's cache

_LAUNCH = """
import json, sys
from skytells_lab.local import start_server
srv = start_server(data_dir=sys.argv[1], device="cpu", config=json.loads(sys.argv[2]) or None)
print(srv.url, flush=True)
sys.stdin.read()        # until the parent closes our stdin (or dies)
srv.stop()
"""


@contextlib.contextmanager
def server_process(config: dict | None = None, *, warm: tuple[str, ...] = ("embeddings",), timeout: float = 300):
    """Yield the base URL (``http://127.0.0.1:PORT/v1``) of a fresh local server in a child process."""
    with tempfile.TemporaryDirectory(prefix="skytells-bench-") as data_dir:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, data_dir, json.dumps(config or {})],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        try:
            url = proc.stdout.readline().strip()
            if not url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the local server did not start (exit code {proc.poll()})")
            if "embeddings" in warm:  # load the model before anything is timed
                httpx.post(url + "/embeddings", json={"model": "all-minilm-l6-v2", "input": ["warm up"]},
                           timeout=timeout).raise_for_status()
            yield url
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def short_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct short sentences (a few tokens each)."""
    words = ["red", "fox", "sea", "owl", "sky", "tea", "map", "ink", "sun", "oak", "jam", "bee", "cup"]
    out = []
    for i in range(n):
        j = i + seed
        out.append(f"the {words[j % 13]} {words[(j // 13) % 13]} and the {words[(j // 169) % 13]} number {i}")
    return out


def best_of(fn, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (seconds): the least disturbed by a shared machine's load."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def machine_load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} CPUs"
