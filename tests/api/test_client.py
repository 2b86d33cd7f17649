"""The client's behaviour over real HTTP against the fake service: sync and async twins side by side."""

from __future__ import annotations

import asyncio
import base64
import inspect
import io

import numpy as np
import pytest
from conftest import KEY
from fake_skytells_service import chat_completion, vector_for
from support.faults import Fault, Reply

from skytells_lab.api import (
    AsyncSkytells,
    CallRecord,
    ChatCompletion,
    InvalidInputError,
    NotFoundError,
    PredictionStatus,
    Response,
    ServerError,
    Skytells,
    WaitTimeout,
)


def test_twins_have_the_same_public_methods():
    def public(obj):
        return {n for n in dir(obj) if not n.startswith("_")}

    assert public(Skytells) - {"close"} == public(AsyncSkytells) - {"close", "aclose"}
    for name in ("run", "status", "embed", "close"):
        assert inspect.iscoroutinefunction(getattr(AsyncSkytells, name))
    c = AsyncSkytells(KEY, "http://127.0.0.1:9/v1")
    assert set(dir(c.predictions)) == set(dir(Skytells(KEY, "http://127.0.0.1:9/v1").predictions))


def test_models_list_get_and_fallback(client, faults):
    assert [m.type for m in client.models.list(type="image")] == ["image"]
    model = client.models.get("truefusion", fields=["input_schema", "output_schema"])
    assert model.pricing.amount == 0.03 and model.capabilities == ["text-to-image"]
    assert faults.requests[-1].query["fields"] == ["input_schema,output_schema"]
    with pytest.raises(NotFoundError) as info:
        client.models.get("nope")
    assert info.value.error_id == "MODEL_NOT_FOUND"
    assert faults.count("GET", "/v1/model/nope") == 0  # a missing model is not a missing route
    # a service that only knows the SDKs' singular route
    faults.script("GET", "/v1/models/truefusion", Fault.status(404, {"error_id": "ENDPOINT_NOT_FOUND",
                                                                        "message": "no route"}))
    faults.route("GET", "/v1/model/truefusion", lambda r: Reply.json({"name": "TF", "namespace": "truefusion"}))
    assert client.models.get("truefusion").name == "TF"
    assert faults.count("GET", "/v1/model/truefusion") == 1


def test_auth_headers(client, faults):
    client.models.list()
    headers = {k.lower(): v for k, v in faults.requests[-1].headers.items()}
    assert headers["x-api-key"] == KEY and "authorization" not in headers
    client.chat.completions.create(model="m", messages=[])
    headers = {k.lower(): v for k, v in faults.requests[-1].headers.items()}
    assert headers["x-api-key"] == KEY and headers["authorization"] == f"Bearer {KEY}"


def test_prediction_lifecycle_sync(client, service, faults):
    p = client.predictions.create("truefusion", {"prompt": "cat"}, webhook="https://example.com/hook")
    assert faults.requests[-1].json()["webhook"] == {"url": "https://example.com/hook"}
    assert p.status == PredictionStatus.PENDING and not p.is_terminal
    done = p.wait(timeout=5, poll_interval=0.01)
    assert done.status == PredictionStatus.SUCCEEDED and done.credits_used == 0.03
    assert done.completed_at.tzinfo is not None and done.metrics.predict_time == 1.5
    assert client.predictions.get(p.id).outputs == done.outputs
    for _ in range(4):
        client.predictions.create("truefusion", {"prompt": "dog"})
    page = client.predictions.list(page=1, per_page=2)
    assert len(page) == 2 and page.total == 5 and page.has_next and repr(page).startswith("PredictionPage(")
    assert [x.id for x in client.predictions.iter(per_page=2)] == list(service.predictions)
    cancelled = client.predictions.cancel("pred-2")
    assert cancelled.status == PredictionStatus.CANCELLED and cancelled.is_terminal
    assert client.predictions.delete("pred-2") is None and "pred-2" not in service.predictions
    with pytest.raises(ValueError):
        client.predictions.list(per_page=51)


def test_unknown_prediction_502_is_not_retried(client, faults):
    with pytest.raises(ServerError) as info:
        client.predictions.get("missing")
    assert info.value.error_id == "PREDICTION_FAILED" and info.value.http_status == 502
    assert faults.count("GET", "/v1/predictions/missing") == 1


def test_wait_timeout_carries_the_id(client, service):
    service.polls_until_done = 10**6
    p = client.predictions.create("truefusion", {"prompt": "slow"})
    with pytest.raises(WaitTimeout) as info:
        client.predictions.wait(p.id, timeout=0.1, poll_interval=0.02)
    assert info.value.prediction_id == p.id and info.value.prediction.status == PredictionStatus.PROCESSING
    assert p.id in str(info.value) and "cancel" in str(info.value)


def test_images_fetch_outputs_through_the_client(client, faults):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buf, format="PNG")
    faults.route("GET", r"/files/.+\.png", lambda r: Reply(200, buf.getvalue(), {"Content-Type": "image/png"}))
    faults.script("GET", r"/files/.+\.png", Fault.status(503))  # retried like any read
    images = client.run("truefusion", {"prompt": "x"}, poll_interval=0.01).images()
    assert len(images) == 1 and images[0].size == (4, 3)
    # the key goes to the API's origin only
    assert faults.requests[-1].headers.get("x-api-key") == KEY


def test_key_only_sent_to_the_api_origin(faults, service):
    from support.faults import FaultServer

    with FaultServer() as cdn:
        cdn.route("GET", "/img.png", lambda r: Reply(200, b"bytes"))
        with Skytells(KEY, faults.url) as c:
            from skytells_lab.api import _operations as ops

            assert c._execute(ops.fetch_file(cdn.origin + "/img.png", c.base_url)) == b"bytes"
        assert "x-api-key" not in {k.lower() for k in cdn.requests[-1].headers}


def test_observers_and_rate_limits(client, service):
    service.rate_limit_headers = {"x-skytells-ratelimit-remaining-requests": "41",
                                  "x-skytells-ratelimit-limit-requests": "50",
                                  "x-skytells-ratelimit-window": "60s",
                                  "x-skytells-ratelimit-limit-tokens-in": "-"}
    records: list[CallRecord] = []
    client.add_observer(records.append)
    client.embeddings.create(model="embed-small", input=["a", "bb"])
    assert client.rate_limits == {"remaining_requests": 41, "limit_requests": 50, "window": "60s",
                                  "limit_tokens_in": None}
    p = client.run("truefusion", {"prompt": "x"}, poll_interval=0.01)
    kinds = [r.kind for r in records]
    assert kinds[0] == "embeddings" and records[0].prompt_tokens == 2 and records[0].ok
    assert "predictions.create" in kinds and kinds[-1] == "predictions.get"
    assert records[-1].status == "succeeded" and records[-1].credits_used == 0.03
    assert records[-1].predict_time == 1.5 and p.succeeded
    with pytest.raises(NotFoundError):
        client.models.get("nope")
    assert records[-1].ok is False and records[-1].status == 404
    client.add_observer(lambda r: 1 / 0)  # a broken observer never breaks a call
    client.models.list()


def test_status_and_defaults(client, faults):
    status = client.status()
    assert status.reachable and status["version"] == "fake"
    assert "reachable" in repr(status)
    assert client.is_local  # loopback
    remote = Skytells(KEY, "https://api.example.invalid/v1")
    assert not remote.is_local and remote.default_chat_model == "deepbrain-router"
    assert remote.default_embedding_model == "skytells-embed-3-small" and remote.default_image_model == "truefusion"
    assert client.default_image_model == "digits-diffusion"
    dead = Skytells(KEY, "http://127.0.0.1:9/v1", backoff_base=0.01)
    assert dead.status().reachable is False


def test_chat_non_stream_keeps_safety_and_unknown_fields(client):
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert isinstance(completion, ChatCompletion) and completion.text == "Hello from the fake"
    assert completion.choices[0].content_filter_results["hate"]["severity"] == "safe"
    assert completion.prompt_filter_results[0]["prompt_index"] == 0
    assert completion.brand_new_field == {"kept": True}
    assert completion.usage.total_tokens == 7
    assert "Hello" in repr(completion)


def test_chat_stream_accumulates(client):
    records = []
    client.add_observer(records.append)
    with client.chat.completions.create(model="m", messages=[], stream=True) as stream:
        texts = [chunk.text for chunk in stream]
        assert stream.text == "Hello from the fake"
    assert texts == ["Hello", " from", " the", " fake", ""]
    final = stream.final()
    assert final.text == "Hello from the fake" and final.choices[0].finish_reason == "stop"
    assert final.usage.completion_tokens == 4
    assert records[-1].kind == "chat.completions" and records[-1].completion_tokens == 4


RESPONSE_EVENTS = [
    ("response.created", {"type": "response.created", "sequence_number": 0,
                          "response": {"id": "resp_1", "status": "in_progress", "output": [], "content_filters": None}}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "m",
                                    "output_index": 0, "content_index": 0, "delta": "Hi"}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 2, "delta": " there"}),
    ("response.completed", {"type": "response.completed", "sequence_number": 3, "response": {
        "id": "resp_1", "object": "response", "status": "completed", "model": "m",
        "output": [{"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]}],
        "usage": {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4},
        "content_filters": [{"blocked": False, "source_type": "prompt"}]}}),
]


def test_responses_stream_typed_events(client, faults):
    faults.route("POST", "/v1/responses", lambda r: Reply.sse(RESPONSE_EVENTS, done=False))
    stream = client.responses.create(model="m", input="hi", stream=True)
    types = [event.type for event in stream]
    assert types == [e[0] for e in RESPONSE_EVENTS]
    final = stream.final()
    assert isinstance(final, Response) and final.output_text == "Hi there" and stream.text == "Hi there"
    assert final.content_filters[0]["source_type"] == "prompt"


def test_responses_non_stream(client, faults):
    faults.route("POST", "/v1/responses", lambda r: Reply.json(RESPONSE_EVENTS[-1][1]["response"]))
    assert client.responses.create(model="m", input="hi").output_text == "Hi there"


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_create(client, encoding):
    result = client.embeddings.create(model="embed-small", input=["a", "bb", "ccc"], encoding_format=encoding)
    assert result.vectors.dtype == np.float32 and result.vectors.shape == (3, 8)
    np.testing.assert_array_equal(result.vectors, np.stack([vector_for(t) for t in ["a", "bb", "ccc"]]))
    assert [d.index for d in result.data] == [0, 1, 2] and result.usage.prompt_tokens == 3
    assert result.vectors.flags.writeable


def test_base64_is_decoded_with_frombuffer(monkeypatch):
    from skytells_lab.api import EmbeddingResponse

    calls = []
    real = np.frombuffer
    monkeypatch.setattr(np, "frombuffer", lambda *a, **k: calls.append(1) or real(*a, **k))
    vec = np.arange(6, dtype="<f4").reshape(2, 3)
    body = {"data": [{"index": i, "embedding": base64.b64encode(v.tobytes()).decode()} for i, v in enumerate(vec)]}
    np.testing.assert_array_equal(EmbeddingResponse.from_wire(body).vectors, vec)
    assert calls == [1]  # one buffer for the whole batch, never a list of floats


def test_inference_errors_are_openai_shaped(client, faults):
    faults.script("POST", "/v1/chat/completions", Fault.json(
        {"error": {"message": "bad model", "type": "invalid_request_error", "code": "invalid_parameter",
                   "error_id": "INVALID_PARAMETER", "status": 400, "param": "model", "request_id": "req_9"}}, 400))
    with pytest.raises(InvalidInputError) as info:
        client.chat.completions.create(model="m", messages=[])
    assert info.value.request_id == "req_9" and info.value.details == {"param": "model"}


def test_async_twin_end_to_end(make_async, service, faults):
    async def main():
        async with make_async() as c:
            models = await c.models.list()
            p = await c.predictions.create("truefusion", {"prompt": "cat"})
            p = await p.wait(timeout=5, poll_interval=0.01)
            ran = await c.run("truefusion", {"prompt": "x"}, poll_interval=0.01)
            page = await c.predictions.list(per_page=1)
            ids = [x.id async for x in c.predictions.iter(per_page=1)]
            cancelled = await c.predictions.cancel(p.id)
            await c.predictions.delete(p.id)
            chat = await c.chat.completions.create(model="m", messages=[])
            stream = await c.chat.completions.create(model="m", messages=[], stream=True)
            chunks = [chunk async for chunk in stream]
            final = await stream.final()
            emb = await c.embeddings.create(model="embed-small", input=["x"], encoding_format="base64")
            status = await c.status()
            return models, p, ran, page, ids, cancelled, chat, chunks, final, emb, status

    models, p, ran, page, ids, cancelled, chat, chunks, final, emb, status = asyncio.run(main())
    assert len(models) == 2 and p.succeeded and ran.succeeded
    assert page.total == 2 and ids == ["pred-1", "pred-2"]
    assert cancelled.status == PredictionStatus.CANCELLED and "pred-1" not in service.predictions
    assert chat.text == final.text == "Hello from the fake" and len(chunks) == 5
    assert emb.vectors.shape == (1, 8) and status.reachable


def test_with_options_shares_pool_and_observers(client):
    seen = []
    client.add_observer(seen.append)
    quick = client.with_options(max_retries=0, timeout=5)
    assert quick.max_retries == 0 and quick.timeout == 5 and quick._http is client._http
    quick.models.list()
    quick.close()  # a clone never closes its parent's pool
    client.models.list()
    assert len(seen) == 2


def test_one_line_reprs(client):
    p = client.run("truefusion", {"prompt": "x"}, poll_interval=0.01)
    for obj in (client, p, client.models.list()[0], client.predictions.list(), client.status(),
                client.chat.completions.create(model="m", messages=[]),
                client.embeddings.create(model="embed-small", input=["x"])):
        text = repr(obj)
        assert "\n" not in text and len(text) < 200


def test_chat_completion_model_round_trip():
    body = chat_completion("m", "hey")
    c = ChatCompletion.model_validate(body)
    assert c.model_dump()["brand_new_field"] == {"kept": True} and c.raw == body


def test_transport_is_the_seam():
    """httpx.MockTransport in place of the network, for the sync client and its async embed twin."""
    import json as _json

    import httpx

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.url.path.endswith("/embeddings"):
            n = len(_json.loads(request.content)["input"])
            data = [{"index": i, "embedding": [float(i), 1.0]} for i in range(n)]
            return httpx.Response(200, json={"data": data, "model": "e"})
        return httpx.Response(200, json=[{"name": "M", "namespace": "m"}])

    with Skytells(KEY, "https://api.example.invalid/v1", transport=httpx.MockTransport(handler)) as c:
        assert c.models.list()[0].slug == "m"
        assert c.embed(["a", "b", "c"], model="e", batch_size=2, progress=False).shape == (3, 2)
    # embed asks the catalog what answers "e" first: the cache keys hold it (issue 20)
    assert seen == [("GET", "/v1/models"), ("GET", "/v1/models/e"), ("POST", "/v1/embeddings"),
                    ("POST", "/v1/embeddings")]
    assert Response.model_validate(RESPONSE_EVENTS[-1][1]["response"]).text == "Hi there"
