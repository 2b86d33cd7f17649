"""No 5xx for bad input: huge pages and integers, NUL bytes and long file segments, chat/responses bounds that
agree with the runner, context overflow as OpenAI's `context_length_exceeded`, stream errors in-band."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from skytells_lab.local.runners.base import ChatRunner, Generation

CHAT = "smollm2-135m-instruct"
HUGE = "9" * 5000  # past Python's 4300-digit int limit


@pytest.fixture(scope="module")
def http(local_server):
    with httpx.Client(base_url=local_server.url, timeout=120) as client:
        yield client


@pytest.mark.parametrize("params", [{"page": 10**30}, {"page": HUGE}, {"page": "-" + HUGE}, {"per_page": HUGE},
                                    {"page": 10**9 + 1}, {"page": "1e3"}, {"from": "\x00" * 300}])
def test_list_parameters_out_of_any_range_are_400(http, params):
    response = http.get("/predictions", params=params)
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["error_id"] in ("INVALID_PARAMETER", "INVALID_DATE_FORMAT") and len(error["message"]) < 300


def test_far_page_within_range_is_an_empty_list(http):
    response = http.get("/predictions", params={"page": 10**9})
    assert response.status_code == 200 and response.json()["data"] == []


@pytest.mark.parametrize("path", ["/predictions", "/chat/completions", "/embeddings", "/responses"])
def test_integers_past_the_digit_limit_in_a_body_are_400(http, path):
    raw = '{"model": "digits-diffusion", "input": {"prompt": "3", "seed": HUGE}, "seed": HUGE}'.replace("HUGE", HUGE)
    response = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert "digits" in response.text


def test_big_integers_within_the_limit_are_range_errors(http):
    big = 10**4000
    response = http.post("/predictions", json={"model": "digits-diffusion", "input": {"prompt": "3", "seed": big}})
    assert response.status_code == 422 and response.json()["error"]["details"]["field"] == "seed"
    response = http.post("/chat/completions", json={"model": CHAT, "seed": big, "messages": [
        {"role": "user", "content": "hi"}]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "seed"


def _raw_get(server, target: str) -> tuple[int, bytes]:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nConnection: close\r\n\r\n"
                     .encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("target", ["/v1/files/%00/x.png", "/v1/files/x/a%00b.png", "/v1/files/x/" + "a" * 300,
                                    "/v1/files/" + "b" * 5000 + "/x.png", "/v1/files/x/" + "%C3%A9" * 200])
def test_files_route_nul_bytes_and_long_segments_are_404_without_server_paths(local_server, target):
    status, body = _raw_get(local_server, target)
    assert status == 404, body[:300]
    error = json.loads(body)["error"]
    assert error["error_id"] == "FILE_NOT_FOUND" and len(error["message"]) < 300
    assert str(local_server.data_dir).encode() not in body and b"/tmp" not in body


def _chat(**extra) -> dict:
    return {"model": CHAT, "max_tokens": 1, "messages": [{"role": "user", "content": "Say hi"}], **extra}


@pytest.mark.parametrize(("extra", "param"), [({"top_p": 0}, "top_p"), ({"top_p": -0.1}, "top_p"),
                                              ({"seed": 2**64}, "seed"), ({"seed": -(2**63) - 1}, "seed"),
                                              ({"temperature": 2.5}, "temperature")])
@pytest.mark.parametrize("route", ["/chat/completions", "/responses"])
def test_generation_bounds_are_400_as_the_runner_would_refuse(http, extra, param, route):
    body = _chat(**extra) if route == "/chat/completions" else {"model": CHAT, "input": "hi", "max_output_tokens": 1,
                                                                 **extra}
    response = http.post(route, json=body)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["param"] == param


def test_the_widest_seed_the_runner_accepts_is_served(http):
    for seed in (2**64 - 1, -(2**63)):
        response = http.post("/chat/completions", json=_chat(seed=seed, temperature=0.5))
        assert response.status_code == 200, response.text[:300]


LONG = "hello " * 9000  # past SmolLM2's 8192-token context


@pytest.mark.parametrize("stream", [False, True])
def test_prompt_past_the_context_is_context_length_exceeded(http, stream):
    response = http.post("/chat/completions", json=_chat(stream=stream, messages=[{"role": "user", "content": LONG}]))
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert error["type"] == "invalid_request_error" and "8192" in error["message"]
    response = http.post("/responses", json={"model": CHAT, "input": LONG, "stream": stream})
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"


def test_a_prompt_of_megabytes_is_refused_without_tokenizing_it(http):
    started = time.monotonic()
    response = http.post("/chat/completions", json=_chat(messages=[{"role": "user", "content": "word " * 2_000_000}]))
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    assert "at least" in response.json()["error"]["message"]
    assert time.monotonic() - started < 30  # tokenizing 10 MB took minutes on this machine


@pytest.mark.parametrize("options", [[], "yes", {"include_usage": "yes"}, {"include_usage": 1}, {"bogus": True}])
def test_bad_stream_options_are_400_before_any_byte_streams(http, options):
    for route, body in (("/chat/completions", _chat(stream=True, stream_options=options)),
                        ("/responses", {"model": CHAT, "input": "hi", "stream": True, "stream_options": options})):
        response = http.post(route, json=body)
        assert response.status_code == 400, response.text[:300]
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["param"].startswith("stream_options")


class _FailingChat(ChatRunner):
    """Streams one token, then its model fails (a fault a real model cannot be made to raise on demand)."""

    slug = "failing-chat"

    def _load(self) -> None:
        pass

    def generate(self, messages, **params) -> Generation:
        def deltas():
            yield "Hel"
            raise RuntimeError("CUDA error: device-side assert triggered")

        return Generation(deltas(), 3)


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    from skytells_lab.local import start_server

    server = start_server(data_dir=tmp_path_factory.mktemp("failing"), device="cpu", runners=[_FailingChat()])
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


def test_a_failure_after_streaming_began_is_an_sse_error_event_not_a_cut_body(failing):
    with failing.stream("POST", "/chat/completions", json={**_chat(stream=True), "model": "failing-chat"}) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "Hel"
    error = json.loads(events[-1])["error"]
    assert error["code"] == "inference_error" and "device-side assert" in error["message"]
    with failing.stream("POST", "/responses", json={"model": "failing-chat", "input": "hi", "stream": True}) as r:
        assert r.status_code == 200
        lines = list(r.iter_lines())
    kinds = [line[7:] for line in lines if line.startswith("event: ")]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.failed"
    failed = json.loads([line for line in lines if line.startswith("data: ")][-1][6:])
    assert failed["response"]["status"] == "failed" and "device-side assert" in failed["response"]["error"]["message"]
