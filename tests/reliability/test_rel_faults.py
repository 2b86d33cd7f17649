"""Faults between the client and the real local server: nothing lost, nothing created twice, no silent cut."""

from __future__ import annotations

import os
import random
import string
import time

import numpy as np
import pytest
from support.faults import Fault
from support.reliability import FAST_DIGITS, FAST_RETRY, NETWORK_FAULTS

from skytells_lab.api import Skytells
from skytells_lab.api import errors as E

EMBED_TEXTS = int(os.environ.get("SKYTELLS_RELIABILITY_EMBED_TEXTS", "5000"))


def _short_texts(n: int) -> list[str]:
    words = ["red", "fox", "sea", "owl", "sky", "tea", "map", "ink", "sun", "oak"]
    return [f"{words[i % 10]} {words[(i // 10) % 10]} {i}" for i in range(n)]


@pytest.mark.timeout(900)
def test_embed_under_20_percent_faults_equals_a_fault_free_run(local_server, proxy, monkeypatch):
    monkeypatch.setenv("SKYTELLS_LAB_CACHE", "0")  # every vector must come over the (faulty) wire
    texts = _short_texts(EMBED_TEXTS)
    with Skytells(base_url=local_server.url, timeout=600) as client:
        client.embed(["warm up the model"], progress=False)
        started = time.perf_counter()
        reference = client.embed(texts, batch_size=50, concurrency=4, progress=False)
        clean_s = time.perf_counter() - started

    proxy.chaos(0.2, [*NETWORK_FAULTS, Fault.truncate(40), Fault.drop_after_handling()], seed=9,
                method="POST", path="/v1/embeddings")
    # embeddings may run twice here (a fault after the server ran them): the caller accepts that for the
    # run to survive every kind of fault (by default only unrun requests are re-sent: test_rel_client_retries)
    with Skytells(base_url=proxy.url, max_retries=10, timeout=60, resend_inference=True, **FAST_RETRY) as flaky:
        started = time.perf_counter()
        vectors = flaky.embed(texts, batch_size=50, concurrency=4, progress=False)
        faulty_s = time.perf_counter() - started

    batches = -(-len(texts) // 50)
    injected = sum(proxy.faults_sent.values())
    print(f"\n{len(texts)} texts: fault-free {clean_s:.1f} s, under faults {faulty_s:.1f} s; "
          f"{injected} faults over {proxy.count('POST', '/v1/embeddings')} requests: {dict(proxy.faults_sent)}")
    assert injected >= batches // 10, "the chaos proxy injected too few faults to mean anything"
    # every fault but a slow answer costs one more request; nothing else was sent
    assert proxy.count("POST", "/v1/embeddings") == batches + injected - proxy.faults_sent["slow"]
    assert vectors.shape == reference.shape == (len(texts), 384)
    assert vectors.dtype == np.float32
    # same batches -> same forward passes: every vector, in order, as in the fault-free run
    np.testing.assert_allclose(vectors, reference, rtol=0, atol=1e-6)
    assert (np.argmax(vectors @ reference.T, axis=1) == np.arange(len(texts))).all()


def _tag() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=12))


@pytest.mark.timeout(600)
def test_run_under_faults_never_creates_a_duplicate(client, proxy):
    """Every create that reached the server made one prediction; none was re-sent after reaching it."""
    faults = [*NETWORK_FAULTS, Fault.drop_after_handling(), Fault.truncate(30)]
    proxy.chaos(0.25, faults, seed=4, path="/v1/predictions(/.*)?")
    tags = [_tag() for _ in range(16)]
    outcomes: dict[str, object] = {}
    with Skytells(base_url=proxy.url, max_retries=8, timeout=30, **FAST_RETRY) as flaky:
        for i, tag in enumerate(tags):
            try:
                outcomes[tag] = flaky.run("digits-diffusion", {"prompt": f"a {i % 10} {tag}", **FAST_DIGITS},
                                          timeout=120, poll_interval=0.05)
            except E.SkytellsError as err:
                outcomes[tag] = err

    server_side: dict[str, list[str]] = {tag: [] for tag in tags}
    for prediction in client.predictions.iter(model="digits-diffusion", per_page=50):
        tag = str((prediction.input or {}).get("prompt", "")).rsplit(" ", 1)[-1]
        if tag in server_side:
            server_side[tag].append(prediction.id)

    created = sum(len(ids) for ids in server_side.values())
    succeeded = [t for t, o in outcomes.items() if not isinstance(o, BaseException)]
    failed = {t: o for t, o in outcomes.items() if isinstance(o, BaseException)}
    print(f"\n{len(succeeded)} runs succeeded, {len(failed)} raised; {created} predictions on the server; "
          f"faults: {dict(proxy.faults_sent)}")
    assert sum(proxy.faults_sent.values()) >= 5
    assert all(len(ids) <= 1 for ids in server_side.values()), server_side
    assert created == proxy.forwarded[("POST", "/v1/predictions")]
    for tag in succeeded:
        assert server_side[tag] == [outcomes[tag].id]
        assert outcomes[tag].status == "succeeded"
    for tag, err in failed.items():
        # a create that may have reached the server says so; one that did not left nothing behind
        if not server_side[tag]:
            continue
        assert isinstance(err, E.SkytellsError)
        assert (err.details or {}).get("may_have_been_created") or isinstance(err, E.WaitTimeout), err
    assert len(succeeded) >= len(tags) // 3


@pytest.fixture(scope="module")
def patient(local_server):
    """A client on the server directly that waits out the chat model's first load (minutes on a busy CPU)."""
    with Skytells(base_url=local_server.url, timeout=900, max_retries=0) as c:
        c.chat.completions.create(model=c.default_chat_model, max_tokens=1,
                                  messages=[{"role": "user", "content": "hi"}])
        yield c


def _reference_chat(client, messages):
    return client.chat.completions.create(model=client.default_chat_model, messages=messages, max_tokens=24,
                                          temperature=0, seed=1).choices[0].message.content


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_chat_stream_cut_midway_raises_with_what_arrived(patient, proxy, reset):
    client = patient
    messages = [{"role": "user", "content": "Count from one to twenty in words."}]
    full = _reference_chat(client, messages)
    proxy.script("POST", "/v1/chat/completions", Fault.cut_stream(4, reset=reset))
    with Skytells(base_url=proxy.url, max_retries=2, timeout=300, **FAST_RETRY) as flaky:
        stream = flaky.chat.completions.create(model=client.default_chat_model, messages=messages, stream=True,
                                               max_tokens=24, temperature=0, seed=1)
        received = []
        with pytest.raises(E.StreamInterrupted) as info:
            for chunk in stream:  # what the caller saw, one chunk at a time
                received.append(chunk)  # noqa: PERF402
    partial = info.value.partial
    assert 1 <= len(partial["chunks"]) <= 4 and len(received) == len(partial["chunks"])
    assert full.startswith(partial["text"]) and len(partial["text"]) < len(full)
    assert stream.text == partial["text"]
    assert proxy.count("POST", "/v1/chat/completions") == 1  # a stream that began is never re-sent


def test_responses_stream_cut_midway_raises_with_what_arrived(patient, proxy):
    client = patient
    model = client.default_chat_model
    full = client.responses.create(model=model, input="Name three colours.", max_output_tokens=24,
                                   temperature=0).output_text
    proxy.script("POST", "/v1/responses", Fault.cut_stream(5))
    with Skytells(base_url=proxy.url, max_retries=2, timeout=300, **FAST_RETRY) as flaky:
        stream = flaky.responses.create(model=model, input="Name three colours.", stream=True,
                                        max_output_tokens=24, temperature=0)
        with pytest.raises(E.StreamInterrupted) as info:
            for _ in stream:
                pass
    partial = info.value.partial
    assert 1 <= len(partial["events"]) <= 5
    assert partial["events"][0].type == "response.created"
    assert full.startswith(partial["text"])
    assert not any(e.type == "response.completed" for e in partial["events"])


async def test_async_chat_stream_cut_midway(patient, proxy):
    from skytells_lab.api import AsyncSkytells

    proxy.script("POST", "/v1/chat/completions", Fault.cut_stream(3))
    async with AsyncSkytells(base_url=proxy.url, max_retries=2, timeout=300, **FAST_RETRY) as flaky:
        stream = await flaky.chat.completions.create(model=flaky.default_chat_model, stream=True, max_tokens=16,
                                                     messages=[{"role": "user", "content": "Say hello."}])
        with pytest.raises(E.StreamInterrupted) as info:
            async for _ in stream:
                pass
    assert 1 <= len(info.value.partial["chunks"]) <= 3
