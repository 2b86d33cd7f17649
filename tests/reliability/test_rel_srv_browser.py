"""Browsers cannot drive the key-less loopback server (Jupyter's rules): Host checked against the bound address
and configured names (DNS rebinding), cross-origin browser requests refused unless allowed, JSON bodies only."""

from __future__ import annotations

import httpx
import pytest

DIGITS = {"model": "digits-diffusion", "input": {"prompt": "3", "num_inference_steps": 1, "width": 16,
                                                 "height": 16}}


def _runners(local_server):
    return list(local_server.state.catalog._runners.values())


@pytest.fixture(scope="module")
def srv(tmp_path_factory, local_server):
    from skytells_lab.local import start_server

    config = {"server": {"allowed_hosts": ["notebook.internal"], "allow_origins": ["http://localhost:3000"]}}
    server = start_server(data_dir=tmp_path_factory.mktemp("browser"), device="cpu", config=config,
                          runners=_runners(local_server))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(srv):
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        yield client


def _total(http) -> int:
    return http.get("/predictions").json()["pagination"]["total"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}",
                                  "attacker.com.", "10.0.0.1:{port}"])
def test_a_foreign_host_header_is_refused_dns_rebinding(srv, http, host):
    before = _total(http)
    host = host.format(port=srv.port)
    for method, path in (("GET", "/predictions"), ("GET", "/models"), ("POST", "/predictions")):
        response = http.request(method, path, headers={"Host": host}, json=DIGITS)
        assert response.status_code == 403, response.text[:300]
        assert response.json()["error"]["error_id"] == "HOST_NOT_ALLOWED"
    assert _total(http) == before


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}",
                                  "notebook.internal:{port}", "127.0.0.2"])
def test_loopback_and_configured_host_names_are_served(srv, http, host):
    response = http.get("/models", headers={"Host": host.format(port=srv.port)})
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:8888",
                                    "http://127.0.0.1:1", "https://localhost:3000"])
def test_cross_origin_browser_requests_are_refused(http, origin):
    before = _total(http)
    response = http.post("/predictions", json=DIGITS, headers={"Origin": origin})
    assert response.status_code == 403 and response.json()["error"]["error_id"] == "ORIGIN_NOT_ALLOWED"
    assert "allow_origins" in response.json()["error"]["message"]
    # a webhook to another loopback port: the server would POST there on the page's behalf
    hooked = {**DIGITS, "webhook": {"url": "http://127.0.0.1:9/admin"}}
    assert http.post("/predictions", json=hooked, headers={"Origin": origin}).status_code == 403
    response = http.post("/chat/completions", headers={"Origin": origin},
                         json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"
    assert http.get("/predictions", headers={"Origin": origin}).status_code == 403
    assert _total(http) == before
    # output files stay embeddable (<img>, <video crossorigin>) but carry no CORS header: a page cannot read them
    shown = http.get("/files/x/out-0.png", headers={"Origin": origin})
    assert shown.status_code == 404 and "access-control-allow-origin" not in shown.headers


def test_same_origin_and_allowed_origins_are_served(srv, http):
    assert http.post("/predictions", json=DIGITS, headers={"Origin": srv.url.removesuffix("/v1")}).status_code == 201
    response = http.post("/predictions", json=DIGITS, headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    preflight = http.options("/predictions", headers={"Origin": "http://localhost:3000",
                                                      "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.parametrize("kind", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                  "multipart/form-data; boundary=x", None])
@pytest.mark.parametrize("path", ["/predictions", "/chat/completions", "/embeddings", "/responses"])
def test_only_json_bodies_are_parsed(http, kind, path):
    import json

    before = _total(http)
    headers = {"content-type": kind} if kind else {}
    response = http.post(path, content=json.dumps({**DIGITS, "input": "x"} if path == "/embeddings" else DIGITS),
                         headers=headers)
    assert response.status_code == 415, response.text[:300]
    message = response.text
    assert "application/json" in message
    assert _total(http) == before


def test_json_with_charset_and_vendor_json_types_are_accepted(http):
    import json

    body = json.dumps({"model": "all-minilm-l6-v2", "input": "x"})
    for kind in ("application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"):
        assert http.post("/embeddings", content=body, headers={"content-type": kind}).status_code == 200


def test_a_public_bind_with_a_key_does_not_check_host(tmp_path, local_server):
    from skytells_lab.local import start_server

    key = "sk-browser-0123456789"
    with start_server(data_dir=tmp_path, device="cpu", host="0.0.0.0", api_key=key,
                      runners=_runners(local_server)) as server:
        response = httpx.get(f"http://127.0.0.1:{server.port}/v1/models",
                             headers={"x-api-key": key, "Host": "gpu-box.example:8000"})
        assert response.status_code == 200
        response = httpx.get(f"http://127.0.0.1:{server.port}/v1/models",
                             headers={"x-api-key": key, "Origin": "http://evil.example"})
        assert response.status_code == 403
