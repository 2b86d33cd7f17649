"""Bad input at the HTTP surface: oversized bodies and deep JSON are refused cleanly, the server keeps going."""

from __future__ import annotations

import json

import httpx
import pytest


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory, local_server):
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    config = {"server": {"max_body_bytes": 64 * 1024, "max_json_depth": 16}}
    srv = start_server(data_dir=tmp_path_factory.mktemp("limits"), device="cpu", config=config, runners=runners)
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        yield http
    srv.stop()


def _rest_error(response: httpx.Response, status: int, error_id: str) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["status"] is False and body["error"]["http_status"] == status
    assert body["error"]["error_id"] == error_id


def _inference_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["status"] == status and error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("path", ["/predictions", "/embeddings", "/chat/completions"])
def test_oversized_body_with_content_length_is_413(small_limits, path):
    big = json.dumps({"model": "x", "input": "a" * (70 * 1024), "messages": []})
    response = small_limits.post(path, content=big, headers={"content-type": "application/json"})
    if path == "/predictions":
        _rest_error(response, 413, "PAYLOAD_TOO_LARGE")
    else:
        _inference_error(response, 413)


def test_oversized_chunked_body_is_413(small_limits):
    def chunks():
        yield b'{"model": "digits-diffusion", "input": {"prompt": "'
        for _ in range(100):
            yield b"7" * 1024
        yield b'"}}'

    response = small_limits.post("/predictions", content=chunks(), headers={"content-type": "application/json"})
    _rest_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("depth", [17, 5000, 200_000])
def test_deep_json_is_400_not_a_crash(small_limits, depth):
    deep = "[" * depth + "]" * depth
    if len(deep) > 64 * 1024:  # past the size limit first
        deep = '{"model": "x", "input": ' + "[" * 30000 + "]" * 30000 + "}"
    response = small_limits.post("/predictions", content=deep, headers={"content-type": "application/json"})
    _rest_error(response, 400, "INVALID_REQUEST")
    nested = {"model": "digits-diffusion", "input": {"prompt": "3"}}
    for _ in range(40):
        nested = {"a": nested}
    response = small_limits.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": "x", "extra": nested})
    _inference_error(response, 400)
    assert small_limits.get("/health").status_code == 200


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"null", b"[1,2]", b'"text"', b"NaN", b'{"model": 1e999}'])
def test_malformed_bodies_get_the_error_envelope(small_limits, raw):
    response = small_limits.post("/predictions", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text[:300]
    body = response.json()
    assert body["status"] is False and body["error"]["error_id"]
    response = small_limits.post("/embeddings", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.json()["error"]["message"]


def test_huge_but_allowed_inputs_do_not_crash(small_limits):
    response = small_limits.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": ["x"] * 5000})
    assert response.status_code in (200, 400), response.text[:300]
    response = small_limits.get("/predictions", params={"per_page": 10**12, "page": -1})
    assert response.status_code == 400
