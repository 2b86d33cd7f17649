"""Watching the server: /metrics moving with real traffic (read by Prometheus' own parser), readiness while
a model really loads, and the JSON access log of `skytells-lab serve --log-format json`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from _local_fakes import EchoMediaRunner
from _local_helpers import assert_error, wait_status
from prometheus_client.parser import text_string_to_metric_families

from skytells_lab.api import Skytells
from skytells_lab.local import start_server
from skytells_lab.local.runners.base import EmbeddingRunner

EMBED, IMAGE = "all-minilm-l6-v2", "digits-diffusion"
FAST = {"prompt": "7", "num_inference_steps": 4, "seed": 1}


def scrape(base: str, **kw) -> dict:
    """{(name, labels as a sorted tuple): value} of every sample /metrics serves, read by Prometheus' parser."""
    resp = httpx.get(base.removesuffix("/v1") + "/metrics", **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_traffic(server, http):
    before = scrape(server.url)
    texts = ["the bank raised its rates", "a striker scored twice", "parliament passed the bill"]
    emb = http.post("/embeddings", json={"model": EMBED, "input": texts})
    assert emb.status_code == 200
    tokens = emb.json()["usage"]["prompt_tokens"]
    pid = http.post("/predictions", json={"model": IMAGE, "input": FAST}).json()["id"]
    wait_status(http, pid, ("succeeded",))
    assert http.get(f"/predictions/{pid}").status_code == 200
    assert http.get("/no-such-route").status_code == 404
    after = scrape(server.url)

    def grew(name, by=None, **labels):
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta == by if by is not None else delta > 0, (name, labels, delta)

    embed_labels = {"method": "POST", "route": "/v1/embeddings", "model": EMBED, "status": "200"}
    grew("skytells_lab_http_requests_total", 1, **embed_labels)
    grew("skytells_lab_http_request_duration_seconds_count", 1, **embed_labels)
    grew("skytells_lab_http_request_duration_seconds_sum", **embed_labels)
    grew("skytells_lab_http_request_duration_seconds_bucket", 1, **embed_labels, le="+Inf")
    grew("skytells_lab_http_requests_total", 1, method="POST", route="/v1/predictions", model=IMAGE, status="201")
    # polls are counted by their route template, never by the id in the path
    grew("skytells_lab_http_requests_total", method="GET", route="/v1/predictions/{prediction_id}", model="",
         status="200")
    grew("skytells_lab_http_requests_total", 1, method="GET", route="unmatched", model="", status="404")
    assert not any(pid in dict(labels).values() for _, labels in after)
    for status in ("pending", "processing", "succeeded"):
        grew("skytells_lab_predictions_total", 1, model=IMAGE, status=status)
    grew("skytells_lab_embedded_texts_total", 3, model=EMBED)
    grew("skytells_lab_embedded_tokens_total", tokens, model=EMBED)
    grew("skytells_lab_worker_busy_seconds_total")
    assert value(after, "skytells_lab_http_requests_in_flight") >= 1  # the scrape itself
    assert value(after, "skytells_lab_predictions_queued") == 0
    assert value(after, "skytells_lab_predictions_running") == 0
    assert value(after, "skytells_lab_worker_threads") == 1
    for slug in (EMBED, IMAGE):
        assert value(after, "skytells_lab_model_loaded", model=slug) == 1
        assert value(after, "skytells_lab_model_state", model=slug, state="ready") == 1
        assert value(after, "skytells_lab_model_load_seconds", model=slug) > 0
    assert value(after, "skytells_lab_ready") == 1


def test_each_server_has_its_own_metrics_and_the_guards_hold(tmp_path):
    key = "sk-local-metrics-key"
    with start_server(data_dir=tmp_path / "a", device="cpu", runners=[EchoMediaRunner()]) as a, \
            start_server(data_dir=tmp_path / "b", device="cpu", runners=[EchoMediaRunner()], api_key=key,
                         config={"server": {"metrics_require_key": True}}) as b:
        for _ in range(3):
            assert httpx.get(f"{a.url}/models").status_code == 200
        labels = {"method": "GET", "route": "/v1/models", "model": "", "status": "200"}
        assert value(scrape(a.url), "skytells_lab_http_requests_total", **labels) == 3
        assert value(scrape(b.url, headers={"x-api-key": key}), "skytells_lab_http_requests_total", **labels) == 0
        # open by default, as /v1/health is; `metrics_require_key` asks for the key
        assert_error(httpx.get(b.url.removesuffix("/v1") + "/metrics"), 401, "UNAUTHORIZED")
        # a DNS-rebinding page names its own host: refused like every route of a loopback server
        rebound = httpx.get(a.url.removesuffix("/v1") + "/metrics", headers={"host": "evil.example"})
        assert_error(rebound, 403, "HOST_NOT_ALLOWED")
        refused = {"method": "GET", "route": "unmatched", "model": "", "status": "403"}  # refused before routing
        assert value(scrape(a.url), "skytells_lab_http_requests_total", **refused) == 1
        # OpenMetrics for a scraper that asks for it
        om = httpx.get(a.url.removesuffix("/v1") + "/metrics",
                       headers={"accept": "application/openmetrics-text; version=1.0.0"})
        assert om.headers["content-type"].startswith("application/openmetrics-text") and "# EOF" in om.text


class GatedEmbedder(EmbeddingRunner):
    """An embedding model whose weights take as long to load as the test says (until `gate` is set)."""

    dimensions = 4

    def __init__(self, slug: str, fail: bool = False):
        super().__init__(slug=slug, device="cpu")
        self.gate, self.entered, self.fail = threading.Event(), threading.Event(), fail

    def _load(self) -> None:
        self.entered.set()
        if not self.gate.wait(120):
            raise TimeoutError("the test never opened the gate")
        if self.fail:
            raise OSError("weights file truncated")

    def embed(self, texts, dimensions=None):
        import numpy as np

        return np.ones((len(texts), self.dimensions), dtype="float32")

    def count_tokens(self, texts) -> int:
        return sum(len(t.split()) for t in texts)


def _wait_health(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 60
    while (resp := httpx.get(f"{url}/health")).status_code != status:
        assert time.monotonic() < deadline, resp.text
        time.sleep(0.02)
    return resp


def test_health_answers_503_until_the_preloaded_models_load(tmp_path):
    slow, lazy = GatedEmbedder("slow-embedder"), GatedEmbedder("lazy-embedder")
    lazy.gate.set()
    try:
        with start_server(data_dir=tmp_path, device="cpu", runners=[slow, lazy],
                          config={"server": {"preload": ["slow-embedder"]}}) as srv, \
                Skytells(None, srv.url, backoff_base=0.01) as client:
            assert slow.entered.wait(60)
            error = assert_error(httpx.get(f"{srv.url}/health"), 503, "MODELS_LOADING")
            assert error["details"]["loading"] == ["slow-embedder"] and error["details"]["ready"] is False
            assert error["details"]["model_states"] == {"slow-embedder": "loading", "lazy-embedder": "cold"}
            assert httpx.get(f"{srv.url}/health/live").json()["status"] == "alive"  # liveness stays 200
            assert value(scrape(srv.url), "skytells_lab_ready") == 0
            status = client.status()
            assert status.reachable and status.ready is False and status.loading == ["slow-embedder"]
            assert "not ready" in repr(status) and "slow-embedder" in repr(status)

            slow.gate.set()
            health = _wait_health(srv.url, 200).json()
            assert health["ready"] is True and health["loading"] == []
            assert health["model_states"] == {"slow-embedder": "ready", "lazy-embedder": "cold"}
            status = client.status()
            assert status.ready is True and status.loading == [] and "not ready" not in repr(status)
            samples = scrape(srv.url)
            assert value(samples, "skytells_lab_ready") == 1
            assert value(samples, "skytells_lab_model_state", model="lazy-embedder", state="cold") == 1
            assert value(samples, "skytells_lab_model_load_seconds", model="slow-embedder") > 0
    finally:
        slow.gate.set()


def test_a_failed_preload_keeps_the_server_unready_until_a_request_loads_it(tmp_path):
    broken = GatedEmbedder("flaky-embedder", fail=True)
    broken.gate.set()
    with start_server(data_dir=tmp_path, device="cpu", runners=[broken], preload=True) as srv:
        deadline = time.monotonic() + 60
        while (body := httpx.get(f"{srv.url}/health").json())["error"]["error_id"] == "MODELS_LOADING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        error = body["error"]
        assert error["error_id"] == "MODELS_FAILED" and "weights file truncated" in error["message"]
        assert error["details"]["failed"] == {"flaky-embedder": "OSError: weights file truncated"}
        broken.fail = False  # the file is back: the next request loads the model
        assert httpx.post(f"{srv.url}/embeddings", json={"model": "flaky-embedder", "input": "x"}).status_code == 200
        assert _wait_health(srv.url, 200).json()["model_states"] == {"flaky-embedder": "ready"}


def test_preload_names_only_served_models(tmp_path):
    with pytest.raises(ValueError, match=r"preload names \['nope'\]"):
        start_server(data_dir=tmp_path, device="cpu", runners=[EchoMediaRunner()], preload=["nope"])
    with pytest.raises(ValueError, match="preload must be true, false or a list of model slugs"):
        start_server(data_dir=tmp_path, device="cpu", runners=[EchoMediaRunner()],
                     config={"server": {"preload": "yes"}})


def test_json_access_log_in_process_names_the_model(tmp_path):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("skytells_lab.access")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    embedder = GatedEmbedder("json-embedder")
    embedder.gate.set()
    try:
        with start_server(data_dir=tmp_path, device="cpu", runners=[embedder], log_format="json") as srv:
            resp = httpx.post(f"{srv.url}/embeddings", json={"model": "json-embedder", "input": ["a b", "c"]})
        [line] = lines
        entry = json.loads(line)
        assert entry["route"] == "/v1/embeddings" and entry["model"] == "json-embedder"
        assert entry["status"] == 200 and entry["request_id"] == resp.headers["x-request-id"]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_log_format_json_writes_one_line_per_request_and_no_key(tmp_path):
    secret = "sk-local-do-not-log-7f3a"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "skytells_lab.cli", "serve", "--port", str(port),
                                 "--device", "cpu", "--data-dir", str(tmp_path / "data"), "--api-key", secret,
                                 "--log-format", "json"], env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, err.read_text()
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        keyed = {"x-api-key": secret}
        sent = [
            httpx.get(f"{url}/models", params={"api_key": secret, "token": secret}, headers=keyed),
            httpx.get(f"{url}/predictions/pred-{secret}", headers={"authorization": f"Bearer {secret}"}),
            httpx.post(f"{url}/predictions", json={"model": IMAGE, "input": {"prompt": secret, "bogus": 1}},
                       headers=keyed),
            httpx.get(f"{url}/models"),  # no key: 401
        ]
        assert [r.status_code for r in sent] == [200, 502, 422, 401]
    finally:
        proc.terminate()
        proc.wait(30)
    stdout_text, stderr_text = out.read_text(), err.read_text()
    assert secret not in stdout_text and secret not in stderr_text
    entries = [json.loads(line) for line in stdout_text.splitlines() if line.strip()]  # every line is JSON
    access = [e for e in entries if "route" in e]
    by_id = {e["request_id"]: e for e in access}
    for resp, route, model in zip(sent, ["/v1/models", "/v1/predictions/{prediction_id}", "/v1/predictions",
                                         "/v1/models"], [None, None, IMAGE, None]):
        entry = by_id[resp.headers["x-request-id"]]
        assert set(entry) == {"time", "method", "route", "status", "duration_s", "model", "request_id", "bytes",
                              "client"}
        assert (entry["route"], entry["status"], entry["model"]) == (route, resp.status_code, model)
        assert entry["time"].endswith("Z") and entry["duration_s"] >= 0 and entry["client"] == "127.0.0.1"
    for line in stderr_text.splitlines():  # uvicorn's own lines are JSON too
        assert json.loads(line)["level"]


def test_a_model_loading_for_its_first_request_reports_loading_not_cold(tmp_path):
    lazy = GatedEmbedder("lazy-embedder")
    try:
        with start_server(data_dir=tmp_path, device="cpu", runners=[lazy]) as srv, \
                Skytells(None, srv.url, backoff_base=0.01) as client:
            assert httpx.get(f"{srv.url}/health").json()["model_states"] == {"lazy-embedder": "cold"}
            request = threading.Thread(target=client.embed, args=(["a text"],), kwargs={"model": "lazy-embedder"})
            request.start()
            assert lazy.entered.wait(60)
            health = httpx.get(f"{srv.url}/health").json()  # ready: nothing is preloaded, the server serves
            assert health["ready"] is True and health["model_states"] == {"lazy-embedder": "loading"}
            assert value(scrape(srv.url), "skytells_lab_model_state", model="lazy-embedder", state="loading") == 1
            lazy.gate.set()
            request.join(60)
            assert httpx.get(f"{srv.url}/health").json()["model_states"] == {"lazy-embedder": "ready"}
    finally:
        lazy.gate.set()
