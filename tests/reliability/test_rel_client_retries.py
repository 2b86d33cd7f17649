"""Which requests the client re-sends, counted on a fault proxy in front of the real local server.

An inference POST (chat, responses, embeddings) runs a model and is charged: it is re-sent only when it
provably never reached the server (connect errors) or the server said it ran nothing (429, 503 with
Retry-After). Reads and deletes are retried on any transient failure. ``proxy.forwarded`` counts what
reached the real server, i.e. what ran.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from support.faults import Fault
from support.reliability import FAST_DIGITS, FAST_RETRY

from skytells_lab.api import APITimeoutError, Skytells
from skytells_lab.api import errors as E

EMBED = "/v1/embeddings"
EMBED_MODEL = "all-minilm-l6-v2"
TEXTS = ["a red fox", "the blue sea"]

# each may have run on the server (or did), so an inference request is never re-sent after it
MAY_HAVE_RUN = {
    "drop": Fault.drop(),
    "reset": Fault.reset(),
    "ran-then-dropped": Fault.drop_after_handling(),
    "ran-then-truncated": Fault.truncate(40),
    "500": Fault.status(500),
    "502": Fault.status(502),
    "503-no-retry-after": Fault.status(503),
    "504": Fault.status(504),
    "ran-invalid-json": Fault.invalid_json(),
}
# the server said nothing ran: re-sent
RAN_NOTHING = {
    "429": Fault.rate_limited("0"),
    "503-retry-after": Fault.status(503, headers={"Retry-After": "0"}),
}


@pytest.fixture
def flaky(proxy, monkeypatch):
    monkeypatch.setenv("SKYTELLS_LAB_CACHE", "0")  # every embedding goes over the wire
    with Skytells(base_url=proxy.url, max_retries=3, timeout=120, **FAST_RETRY) as client:
        client.embeddings.create(model=EMBED_MODEL, input=["warm up"])  # the model is loaded before counting
        proxy.reset_counts()
        yield client


@pytest.mark.parametrize("fault", list(MAY_HAVE_RUN.values()), ids=list(MAY_HAVE_RUN))
def test_an_embedding_that_may_have_run_is_not_resent(flaky, proxy, fault):
    proxy.script("POST", EMBED, fault)
    with pytest.raises(E.SkytellsError) as info:
        flaky.embeddings.create(model=EMBED_MODEL, input=TEXTS)
    assert proxy.count("POST", EMBED) == 1
    assert info.value.details["may_have_run"] is True
    assert "may have reached the server and run" in str(info.value)
    assert "resend_inference=True" in str(info.value)  # the way to opt in, named


@pytest.mark.parametrize("fault", list(RAN_NOTHING.values()), ids=list(RAN_NOTHING))
def test_an_embedding_refused_unrun_is_resent_once(flaky, proxy, fault):
    proxy.script("POST", EMBED, fault)
    out = flaky.embeddings.create(model=EMBED_MODEL, input=TEXTS)
    assert out.vectors.shape == (2, 384)
    assert proxy.count("POST", EMBED) == 2 and proxy.forwarded[("POST", EMBED)] == 1  # it ran once


def test_a_read_timeout_is_not_resent(local_server, proxy):
    """The request was sent; the answer was slow. It ran on the server: it must not run again."""
    proxy.script("POST", EMBED, Fault.slow(1.0))
    with Skytells(base_url=proxy.url, max_retries=3, timeout=0.3, **FAST_RETRY) as client, \
            pytest.raises(APITimeoutError) as info:
        client.embeddings.create(model=EMBED_MODEL, input=TEXTS)
    assert info.value.details["may_have_run"] is True
    assert proxy.count("POST", EMBED) == 1


def test_opting_in_resends_after_ambiguous_failures(flaky, proxy):
    proxy.script("POST", EMBED, Fault.drop(), Fault.status(500), Fault.drop_after_handling())
    out = flaky.with_options(resend_inference=True).embeddings.create(model=EMBED_MODEL, input=TEXTS)
    assert out.vectors.shape == (2, 384)
    assert proxy.count("POST", EMBED) == 4
    assert proxy.forwarded[("POST", EMBED)] == 2  # the price: it ran twice (once unanswered)
    proxy.script("POST", EMBED, Fault.drop())
    with pytest.raises(E.NetworkError):  # the parent client is unchanged
        flaky.embeddings.create(model=EMBED_MODEL, input=TEXTS)


def test_a_connection_refused_is_resent(local_server):
    """Nothing listens: the request provably never left, so every attempt is made (counted per attempt)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    attempts: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: attempts.append(request.url.path)]})
    with http, Skytells(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, http_client=http,
                        **FAST_RETRY) as client:
        with pytest.raises(E.NetworkError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert "may_have_run" not in (info.value.details or {})
        with pytest.raises(E.NetworkError):
            client.embeddings.create(model=EMBED_MODEL, input=TEXTS)
    assert attempts == ["/v1/chat/completions"] * 3 + ["/v1/embeddings"] * 3


@pytest.mark.parametrize("kind", ["chat", "chat-stream", "responses"])
def test_chat_and_responses_follow_the_same_rule(local_server, proxy, kind):
    path = "/v1/responses" if kind == "responses" else "/v1/chat/completions"
    proxy.script("POST", path, Fault.drop_after_handling(), Fault.rate_limited("0"))
    with Skytells(base_url=proxy.url, max_retries=3, timeout=600, **FAST_RETRY) as client:
        def call():
            if kind == "responses":
                return client.responses.create(model=client.default_chat_model, input="hi", max_output_tokens=1)
            return client.chat.completions.create(model=client.default_chat_model, max_tokens=1,
                                                  messages=[{"role": "user", "content": "hi"}],
                                                  stream=kind == "chat-stream")
        with pytest.raises(E.NetworkError) as info:
            call()
        assert info.value.details["may_have_run"] is True
        assert proxy.count("POST", path) == 1
        result = call()  # the 429 is re-sent
        if kind == "chat-stream":
            result.final()
    assert proxy.count("POST", path) == 3 and proxy.forwarded[("POST", path)] == 2


def test_predictions_create_keeps_its_never_resend_rule(client, proxy):
    proxy.script("POST", "/v1/predictions", Fault.status(500), Fault.status(503, headers={"Retry-After": "0"}))
    with Skytells(base_url=proxy.url, max_retries=3, **FAST_RETRY) as flaky:
        with pytest.raises(E.ServerError) as info:
            flaky.predictions.create("digits-diffusion", {"prompt": "1", **FAST_DIGITS})
        assert info.value.details["may_have_been_created"] is True
        created = flaky.predictions.create("digits-diffusion", {"prompt": "2", **FAST_DIGITS})
        # resend_inference does not apply to predictions
        proxy.script("POST", "/v1/predictions", Fault.drop_after_handling())
        with pytest.raises(E.NetworkError):
            flaky.with_options(resend_inference=True).predictions.create("digits-diffusion",
                                                                         {"prompt": "3", **FAST_DIGITS})
    assert proxy.count("POST", "/v1/predictions") == 4
    assert proxy.forwarded[("POST", "/v1/predictions")] == 2  # "2" once (after its 503) and "3"
    assert client.predictions.get(created.id).id == created.id


def test_reads_and_deletes_are_still_retried(client, proxy):
    p = client.predictions.create("digits-diffusion", {"prompt": "4", **FAST_DIGITS})
    proxy.script("GET", "/v1/models", Fault.drop(), Fault.reset(), Fault.status(500))
    proxy.script("GET", f"/v1/predictions/{p.id}", Fault.drop_after_handling(), Fault.invalid_json())
    proxy.script("DELETE", f"/v1/predictions/{p.id}", Fault.status(502))
    with Skytells(base_url=proxy.url, max_retries=3, **FAST_RETRY) as flaky:
        assert flaky.models.list()
        done = flaky.predictions.wait(p.id, timeout=120, poll_interval=0.05)
        flaky.predictions.delete(done.id)
    assert proxy.count("GET", "/v1/models") == 4
    assert proxy.count("GET", f"/v1/predictions/{p.id}") >= 3
    assert proxy.count("DELETE", f"/v1/predictions/{p.id}") == 2
