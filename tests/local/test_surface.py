"""Models, health, OpenAPI, auth, limits, budgets, rate limits and config over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from _local_fakes import EchoMediaRunner
from _local_helpers import assert_error

from skytells_lab.local import start_server

PNG_URI = "data:image/png;base64,iVBORw0KGgoAAAA="


def test_health_and_openapi(http, server):
    health = http.get("/health").json()
    assert health["status"] == "ok" and health["local"] is True and health["device"] == "cpu"
    assert set(health["models"]) == {"all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"}
    doc = httpx.get(server.url.removesuffix("/v1") + "/openapi.json").json()
    paths = set(doc["paths"])
    for path in ("/v1/predictions", "/v1/predict", "/v1/predictions/{prediction_id}",
                 "/v1/predictions/{prediction_id}/cancel", "/v1/predictions/{prediction_id}/delete",
                 "/v1/predictions/{prediction_id}/stream", "/v1/models", "/v1/models/{slug}", "/v1/model/{slug}",
                 "/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/health"):
        assert path in paths, path


def test_models_list_and_get_with_fields(http):
    models = http.get("/models").json()
    assert isinstance(models, list) and {m["namespace"] for m in models} >= {"digits-diffusion", "all-minilm-l6-v2"}
    for m in models:
        assert {"name", "namespace", "type", "capabilities", "pricing", "metadata", "status", "vendor"} <= set(m)
        assert "input_schema" not in m and "output_schema" not in m
    with_schemas = http.get("/models", params={"fields": "input_schema,output_schema"}).json()
    assert all("input_schema" in m and "output_schema" in m for m in with_schemas)
    assert [m["namespace"] for m in http.get("/models", params={"type": "image"}).json()] == ["digits-diffusion"]
    one = http.get("/models/digits-diffusion", params={"fields": "input_schema"}).json()
    singular = http.get("/model/digits-diffusion", params={"fields": "input_schema"}).json()
    assert one["namespace"] == singular["namespace"] == "digits-diffusion"
    props = one["input_schema"]["properties"]
    assert "prompt" in one["input_schema"]["required"] and all("x-order" in p for p in props.values())
    assert "output_schema" not in one
    assert_error(http.get("/models/nope"), 404, "MODEL_NOT_FOUND")
    assert_error(http.get("/model/nope"), 404, "MODEL_NOT_FOUND")


def test_unknown_route_and_method(http):
    assert_error(http.get("/nowhere"), 404, "ENDPOINT_NOT_FOUND")
    assert_error(http.put("/predictions"), 405, "METHOD_NOT_ALLOWED")


def test_oversized_and_too_deep_bodies_are_refused(tmp_path, real_runners):
    config = {"server": {"max_body_bytes": 2000, "max_json_depth": 8}}
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners, config=config) as srv, \
            httpx.Client(base_url=srv.url) as client:
        big = {"model": "digits-diffusion", "input": {"prompt": "7" * 5000}}
        assert_error(client.post("/predictions", json=big), 413, "PAYLOAD_TOO_LARGE")

        def chunks():  # no Content-Length: the limit applies while the body streams in
            yield b'{"model": "digits-diffusion", "input": {"prompt": "'
            yield b"7" * 5000
            yield b'"}}'

        assert_error(client.post("/predictions", content=chunks()), 413, "PAYLOAD_TOO_LARGE")
        deep = {"model": "digits-diffusion", "input": {"prompt": [[[[[[[[[["7"]]]]]]]]]]}}
        assert_error(client.post("/predictions", json=deep), 400, "INVALID_REQUEST")
        resp = client.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": "x" * 3000})
        assert resp.status_code == 413 and resp.json()["error"]["type"] == "invalid_request_error"


def test_api_key_via_x_api_key_or_bearer(tmp_path, real_runners):
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners, api_key="sk-test-123") as srv:
        url = srv.url
        assert_error(httpx.get(f"{url}/models"), 401, "UNAUTHORIZED")
        assert_error(httpx.get(f"{url}/models", headers={"x-api-key": "sk-wrong"}), 401, "UNAUTHORIZED")
        assert_error(httpx.get(f"{url}/predictions", headers={"Authorization": "Bearer nope"}), 401, "UNAUTHORIZED")
        assert httpx.get(f"{url}/models", headers={"x-api-key": "sk-test-123"}).status_code == 200
        assert httpx.get(f"{url}/models", headers={"Authorization": "Bearer sk-test-123"}).status_code == 200
        # inference routes answer the OpenAI-style error
        resp = httpx.post(f"{url}/embeddings", json={"model": "all-minilm-l6-v2", "input": "hi"})
        assert resp.status_code == 401
        err = resp.json()["error"]
        assert err["type"] == "authentication_error" and err["error_id"] == "UNAUTHORIZED" and err["status"] == 401
        assert err["request_id"] == resp.headers["x-request-id"]
        assert httpx.get(f"{url}/health").status_code == 200  # liveness stays open
        assert srv.webhook_secret == "sk-test-123"


def test_a_key_is_required_off_loopback(tmp_path, real_runners):
    with pytest.raises(ValueError, match="needs an API key"):
        start_server(data_dir=tmp_path, device="cpu", runners=real_runners, host="0.0.0.0")
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners, host="0.0.0.0",
                      api_key="sk-x") as srv:
        assert httpx.get(f"{srv.url}/models", headers={"x-api-key": "sk-x"}).status_code == 200


def test_credit_balance_runs_out_with_402(tmp_path, real_runners):
    config = {"server": {"credits": 0.5}}
    with start_server(data_dir=tmp_path, device="cpu", runners=[*real_runners, EchoMediaRunner(device="cpu")],
                      config=config) as srv, httpx.Client(base_url=srv.url) as client:
        first = client.post("/predict", json={"model": "echo-media", "input": {"image": PNG_URI}, "await": True})
        assert first.json()["metadata"]["billing"]["credits_used"] == 0.5
        assert_error(client.post("/predict", json={"model": "echo-media", "input": {"image": PNG_URI}}), 402,
                     "INSUFFICIENT_CREDITS")
        resp = client.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": "hi"})
        assert resp.status_code == 402 and resp.json()["error"]["error_id"] == "INSUFFICIENT_CREDITS"
        assert client.get("/health").json()["credits"] == {"balance": 0.5, "used": 0.5}


def test_rate_limit_answers_429_with_retry_after(tmp_path, real_runners):
    config = {"server": {"rate_limit_requests": 3, "rate_limit_window": 30}}
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners, config=config) as srv, \
            httpx.Client(base_url=srv.url) as client:
        ok = [client.get("/models") for _ in range(3)]
        assert [r.headers["x-skytells-ratelimit-remaining-requests"] for r in ok] == ["2", "1", "0"]
        assert ok[0].headers["x-skytells-ratelimit-limit-requests"] == "3"
        assert ok[0].headers["x-skytells-ratelimit-limit-tokens-in"] == "-"
        limited = client.get("/models")
        assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert "x-skytells-ratelimit-limit-requests" not in limited.headers
        resp = client.post("/chat/completions", json={"model": "smollm2-135m-instruct", "messages": []})
        assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"


def test_full_prediction_queue_answers_429_and_keeps_what_was_queued(tmp_path, real_runners):
    """max_queued_predictions bounds the unfinished predictions; the next create is refused, not lost."""
    slow = {"prompt": "8", "num_inference_steps": 200, "num_outputs": 4}
    config = {"server": {"max_queued_predictions": 2}}
    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners, config=config) as srv, \
            httpx.Client(base_url=srv.url, timeout=600) as client:
        queued = [client.post("/predictions", json={"model": "digits-diffusion", "input": slow}) for _ in range(2)]
        assert [r.status_code for r in queued] == [201, 201]
        refused = client.post("/predictions", json={"model": "digits-diffusion", "input": slow})
        error = assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "max_queued_predictions" in error["message"] and error["details"]["unfinished"] == 2
        assert client.get("/predictions").json()["pagination"]["total"] == 2  # the refused one was never stored
        for r in queued:  # room again once they end
            client.post(f"/predictions/{r.json()['id']}/cancel").raise_for_status()
        assert client.post("/predictions", json={"model": "digits-diffusion", "input": {
            "prompt": "1", "num_inference_steps": 2}, "await": True}).json()["status"] == "succeeded"
    with pytest.raises(ValueError, match="max_queued_predictions"):
        start_server(data_dir=tmp_path / "bad", device="cpu", runners=real_runners,
                     config={"server": {"max_queued_predictions": 0}})


def test_config_file_aliases_service_slugs(tmp_path, real_runners):
    path = tmp_path / "server.toml"
    path.write_text('[server]\nwebhook_format = "prediction"\n\n[aliases]\ntruefusion = "digits-diffusion"\n')
    with start_server(data_dir=tmp_path / "data", device="cpu", runners=real_runners, config=path) as srv, \
            httpx.Client(base_url=srv.url, timeout=600) as client:
        model = client.get("/model/truefusion").json()
        assert model["namespace"] == "digits-diffusion" and model["metadata"]["aliases"] == ["truefusion"]
        body = {"model": "truefusion", "input": {"prompt": "5", "num_inference_steps": 4, "aspect_ratio": "1:1"}, "await": True}
        done = client.post("/predict", json=body).json()
        assert done["status"] == "succeeded" and done["model"]["name"] == "truefusion"
        assert done["metadata"]["served_by"] == "digits-diffusion"
        assert done["metadata"]["ignored_input"] == ["aspect_ratio"]
        listed = client.get("/predictions", params={"model": "digits-diffusion"}).json()
        assert listed["pagination"]["total"] == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[aliases]\ntruefusion = "no-such-model"\n')
    with pytest.raises(ValueError, match="no local model"):
        start_server(data_dir=tmp_path / "data", device="cpu", runners=real_runners, config=bad)
