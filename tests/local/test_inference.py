"""Chat completions, responses and embeddings on the real models, raw over HTTP and through the OpenAI SDK."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import openai
import pytest
from _local_fakes import BrokenEmbedder

from skytells_lab.local import start_server

CHAT, EMBED = "smollm2-135m-instruct", "all-minilm-l6-v2"
KEY = "sk-local-test"
CATEGORIES = {"hate", "self_harm", "sexual", "violence"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, real_runners):
    srv = start_server(data_dir=tmp_path_factory.mktemp("inference"), device="cpu", api_key=KEY,
                       runners=[*real_runners, BrokenEmbedder(device="cpu")])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def raw(keyed):
    with httpx.Client(base_url=keyed.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as client:
        yield client


@pytest.fixture(scope="module")
def sdk(keyed):
    return openai.OpenAI(base_url=keyed.url, api_key=KEY, max_retries=0)


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_chat_completion_shape_and_safety_fields(raw):
    resp = raw.post("/chat/completions", json={"model": CHAT, "max_tokens": 8, "temperature": 0,
                                               "messages": [{"role": "user", "content": "Say hello."}]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == CHAT and body["system_fingerprint"]
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert CATEGORIES <= set(choice["content_filter_results"])
    assert choice["content_filter_results"]["hate"]["severity"] in ("safe", "low", "medium", "high")
    prompt = body["prompt_filter_results"][0]
    assert prompt["prompt_index"] == 0 and "jailbreak" in prompt["content_filter_results"]
    usage = body["usage"]
    assert 0 < usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert resp.headers["x-skytells-ratelimit-limit-requests"] == "-"


def test_chat_is_deterministic_at_temperature_zero(raw):
    body = {"model": CHAT, "max_tokens": 6, "temperature": 0, "messages": [{"role": "user", "content": "Count: 1"}]}
    first = raw.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert raw.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"] == first


def test_chat_stream_sends_chunks_token_by_token_then_done(raw):
    body = {"model": CHAT, "max_tokens": 8, "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "Name a color."}]}
    with raw.stream("POST", "/chat/completions", json=body) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        data = sse_data("".join(resp.iter_text()))
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[0]["prompt_filter_results"]
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(deltas) >= 2 and all(deltas)  # one chunk per generated piece, not one blob
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] in ("stop", "length") and CATEGORIES <= set(last["content_filter_results"])
    assert chunks[-1]["usage"]["completion_tokens"] <= 8


def test_responses_and_typed_stream_events(raw):
    body = {"model": CHAT, "input": "Say hi.", "instructions": "Be brief.", "max_output_tokens": 6,
            "temperature": 0, "store": True}
    first = raw.post("/responses", json=body).json()
    assert first["object"] == "response" and first["id"].startswith("resp_")
    assert first["status"] in ("completed", "incomplete") and first["output"][0]["type"] == "message"
    text = first["output"][0]["content"][0]["text"]
    assert text and first["usage"]["output_tokens"] <= 6
    assert [f["source_type"] for f in first["content_filters"]] == ["prompt", "completion"]
    assert CATEGORIES <= set(first["content_filters"][0]["content_filter_results"])
    chained = raw.post("/responses", json={"model": CHAT, "input": "And again.", "max_output_tokens": 4,
                                           "previous_response_id": first["id"]}).json()
    assert chained["previous_response_id"] == first["id"]
    assert chained["usage"]["input_tokens"] > first["usage"]["input_tokens"]
    resp = raw.post("/responses", json={"model": CHAT, "input": "x", "previous_response_id": "resp_nope"})
    assert resp.status_code == 404 and resp.json()["error"]["param"] == "previous_response_id"
    with raw.stream("POST", "/responses", json={**body, "stream": True, "store": False}) as resp:
        events = [json.loads(d) for d in sse_data("".join(resp.iter_text()))]
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert "response.output_text.delta" in kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = next(e for e in events if e["type"] == "response.output_text.done")
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert done["text"] == deltas == events[-1]["response"]["output"][0]["content"][0]["text"]
    assert events[0]["response"]["content_filters"] is None and events[-1]["response"]["content_filters"]


def test_embeddings_float_base64_and_dimensions(raw):
    texts = ["a cat sits on the mat", "a kitten rests on a rug", "stock markets fell"]
    body = raw.post("/embeddings", json={"model": EMBED, "input": texts}).json()
    assert body["object"] == "list" and body["model"] == EMBED and body["usage"]["prompt_tokens"] > 0
    vecs = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert vecs.shape == (3, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    b64 = raw.post("/embeddings", json={"model": EMBED, "input": texts, "encoding_format": "base64"}).json()
    decoded = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in b64["data"]])
    assert np.allclose(decoded, vecs, atol=1e-6)
    short = raw.post("/embeddings", json={"model": EMBED, "input": "one", "dimensions": 64}).json()
    assert len(short["data"][0]["embedding"]) == 64


@pytest.mark.parametrize("body, param", [
    ({"model": EMBED, "input": []}, "input"),
    ({"model": EMBED, "input": [1, 2, 3]}, "input"),
    ({"model": EMBED, "input": "x", "dimensions": 385}, "dimensions"),
    ({"model": EMBED, "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": CHAT, "input": "x"}, "model"),
])
def test_embedding_errors_are_openai_shaped_400(raw, body, param):
    resp = raw.post("/embeddings", json=body)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["status"] == 400
    assert err["request_id"].startswith("req_") and err["error_id"] == err["code"].upper()


def test_chat_errors(raw):
    resp = raw.post("/chat/completions", json={"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 404 and resp.json()["error"]["error_id"] == "MODEL_NOT_FOUND"
    resp = raw.post("/chat/completions", json={"model": CHAT, "messages": [{"role": "robot", "content": "x"}]})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "messages[0].role"
    resp = raw.post("/chat/completions", json={"model": CHAT, "max_tokens": 0,
                                               "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "max_tokens"
    resp = raw.post("/chat/completions", json={"model": EMBED, "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 400 and resp.json()["error"]["error_id"] == "MODEL_NOT_SUPPORTED"


def test_a_failing_model_answers_500_not_a_crash(raw):
    resp = raw.post("/embeddings", json={"model": "broken-embedder", "input": "x"})
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["type"] == "server_error" and err["error_id"] == "INFERENCE_ERROR"
    assert raw.post("/embeddings", json={"model": EMBED, "input": "still fine"}).status_code == 200


def test_openai_sdk_chat_stream_embeddings_responses(sdk):
    chat = sdk.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "Hi!"}], max_tokens=6,
                                       temperature=0)
    assert chat.choices[0].message.content and chat.usage.completion_tokens <= 6
    pieces = [c.choices[0].delta.content for c in sdk.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Hi!"}], max_tokens=6, temperature=0, stream=True,
        stream_options={"include_usage": True}) if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == chat.choices[0].message.content
    emb = sdk.embeddings.create(model=EMBED, input=["one", "two"])  # the SDK asks for base64 and decodes it
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384
    assert len(sdk.embeddings.create(model=EMBED, input="x", dimensions=32).data[0].embedding) == 32
    response = sdk.responses.create(model=CHAT, input="Hi!", max_output_tokens=6, temperature=0)
    assert response.output_text
    events = list(sdk.responses.create(model=CHAT, input="Hi!", max_output_tokens=6, temperature=0, stream=True))
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == response.output_text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=sdk.base_url, api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
