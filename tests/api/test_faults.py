"""Every fault case of issue 2 against the loopback fault server, counting the requests it saw."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest
from conftest import FAST, KEY
from support.faults import Fault

from skytells_lab.api import (
    APITimeoutError,
    InvalidJSONError,
    NetworkError,
    PaymentRequiredError,
    PredictionFailed,
    PredictionStatus,
    RateLimitError,
    ServerError,
    Skytells,
    StreamInterrupted,
)

MODELS = "/v1/models"
CREATE = "/v1/predictions"


def test_429_with_retry_after_seconds_then_success(client, faults):
    faults.script("GET", MODELS, Fault.rate_limited("0.2"))
    started = time.monotonic()
    models = client.models.list()
    assert [m.slug for m in models] == ["truefusion", "embed-small"]
    assert faults.count("GET", MODELS) == 2
    assert time.monotonic() - started >= 0.2  # the Retry-After was honoured, not the 10 ms backoff


def test_429_with_retry_after_http_date(client, faults):
    when = email.utils.formatdate(time.time() + 1, usegmt=True)  # second resolution: waits 0..1 s
    faults.script("GET", MODELS, Fault.rate_limited(when))
    assert len(client.models.list()) == 2
    assert faults.count("GET", MODELS) == 2


def test_retry_after_beyond_the_cap_raises_at_once(client, faults):
    faults.script("GET", MODELS, Fault.rate_limited("3600"))
    with pytest.raises(RateLimitError) as info:
        client.models.list()
    assert info.value.retry_after == 3600
    assert info.value.error_id == "RATE_LIMIT_EXCEEDED" and info.value.http_status == 429
    assert faults.count("GET", MODELS) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 408])
def test_5xx_and_408_are_retried(client, faults, code):
    faults.script("GET", MODELS, Fault.status(code), Fault.status(code))
    assert len(client.models.list()) == 2
    assert faults.count("GET", MODELS) == 3


def test_retries_give_up_after_max_retries(client, faults):
    faults.script("GET", MODELS, *[Fault.status(503)] * 4)
    with pytest.raises(ServerError) as info:
        client.models.list()
    assert info.value.http_status == 503 and info.value.error_id == "SERVICE_UNAVAILABLE"
    assert faults.count("GET", MODELS) == 4  # 1 + max_retries=3


def test_per_call_retry_configuration(client, faults):
    faults.script("GET", MODELS, Fault.status(500))
    with pytest.raises(ServerError):
        client.with_options(max_retries=0).models.list()
    assert faults.count("GET", MODELS) == 1
    assert client.max_retries == 3  # the parent is unchanged


def test_payment_errors_are_never_retried(client, faults):
    faults.script("GET", MODELS, Fault.status(402))
    with pytest.raises(PaymentRequiredError) as info:
        client.models.list()
    assert info.value.error_id == "INSUFFICIENT_CREDITS"
    assert faults.count("GET", MODELS) == 1


def test_dropped_connection_is_retried_for_reads(client, faults):
    faults.script("GET", MODELS, Fault.drop(), Fault.reset())
    assert len(client.models.list()) == 2
    assert faults.count("GET", MODELS) == 3


def test_malformed_json_is_retried_for_reads_then_raises(client, faults):
    faults.script("GET", MODELS, Fault.invalid_json())
    assert len(client.models.list()) == 2
    assert faults.count("GET", MODELS) == 2
    faults.script("GET", MODELS, *[Fault.invalid_json()] * 4)
    with pytest.raises(InvalidJSONError) as info:
        client.models.list()
    assert info.value.error_id == "INVALID_JSON"


def test_slow_response_times_out_and_is_retried(faults, service):
    faults.script("GET", MODELS, Fault.slow(0.6))
    with Skytells(KEY, faults.url, timeout=0.3, **FAST) as c:
        assert len(c.models.list()) == 2
    assert faults.count("GET", MODELS) == 2


# --------------------------------------------------------------------------- no duplicate predictions


def test_create_is_not_resent_after_the_request_reached_the_server(client, faults, service):
    faults.script("POST", CREATE, Fault.drop_after_handling())
    with pytest.raises(NetworkError) as info:
        client.predictions.create("truefusion", {"prompt": "cat"})
    assert faults.count("POST", CREATE) == 1
    assert len(service.predictions) == 1  # it was created once, and the error says it may have been
    assert info.value.details["may_have_been_created"] is True
    assert "not re-sent" in str(info.value)


@pytest.mark.parametrize("fault", [Fault.status(500), Fault.status(503), Fault.invalid_json(), Fault.drop()])
def test_create_is_not_resent_on_ambiguous_failures(client, faults, fault):
    faults.script("POST", CREATE, fault)
    with pytest.raises((ServerError, InvalidJSONError, NetworkError)):
        client.predictions.create("truefusion", {"prompt": "cat"})
    assert faults.count("POST", CREATE) == 1


def test_create_is_retried_when_it_certainly_was_not_processed(client, faults, service):
    faults.script("POST", CREATE, Fault.rate_limited("0"))
    prediction = client.predictions.create("truefusion", {"prompt": "cat"})
    assert prediction.status == PredictionStatus.PENDING
    assert faults.count("POST", CREATE) == 2 and len(service.predictions) == 1


def test_create_is_retried_on_connection_refused(service):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: every attempt is refused before anything is sent
    attempts = []
    with Skytells(KEY, f"http://127.0.0.1:{port}/v1", max_retries=2, **FAST) as c:
        c.add_observer(attempts.append)
        with pytest.raises(NetworkError) as info:
            c.predictions.create("truefusion", {"prompt": "cat"})
    assert "could not connect" in str(info.value)
    assert "may_have_been_created" not in (info.value.details or {})
    creates = [a for a in attempts if a.kind == "predictions.create"]  # after the catalog lookup, refused too
    assert len(creates) == 1 and not creates[0].ok


def test_run_under_faults_creates_exactly_one_prediction(client, faults, service):
    faults.script("POST", CREATE, Fault.rate_limited("0"))
    faults.script("GET", r"/v1/predictions/.+", Fault.status(502), Fault.drop(), Fault.invalid_json())
    prediction = client.run("truefusion", {"prompt": "cat"}, poll_interval=0.01)
    assert prediction.status == PredictionStatus.SUCCEEDED
    assert len(service.predictions) == 1
    assert faults.count("POST", CREATE) == 2


# --------------------------------------------------------------------------- HTTP-200 failures and quirks


FAILED = {"id": "pred_failed", "status": "failed", "model": "truefusion", "source": "api", "input": {},
          "output": None, "error": "Failed to generate image.", "data_removed": True,
          "metrics": {"predict_time": 1.08, "total_time": 1.09}, "created_at": "2026-02-27T18:58:44.725000Z",
          "started_at": "2026-02-27T18:58:44+00:00", "completed_at": "2026-02-27T18:58:45+00:00", "urls": {}}


def test_http_200_failed_prediction_raises_prediction_failed_from_run(client, faults):
    faults.script("POST", CREATE, Fault.json(FAILED))
    with pytest.raises(PredictionFailed) as info:
        client.run("truefusion", {"prompt": "x"})
    err = info.value
    assert err.prediction.id == "pred_failed" and err.prediction.status == PredictionStatus.FAILED
    assert err.error_id == "PREDICTION_FAILED" and err.http_status == 200
    assert "Failed to generate image." in err.message
    assert faults.count("POST", CREATE) == 1 and faults.count("GET", r"/v1/predictions/.+") == 0


def test_http_200_failed_prediction_is_returned_by_create(client, faults):
    faults.script("POST", CREATE, Fault.json(FAILED))
    prediction = client.predictions.create("truefusion", {"prompt": "x"})
    assert prediction.is_terminal and prediction.error == "Failed to generate image."
    assert prediction.metrics.predict_time == 1.08 and prediction.raw["data_removed"] is True


def test_status_false_quirk_is_a_queued_prediction(client, faults, service):
    service.predictions["q-1"] = {"id": "q-1", "status": "queued", "model": "truefusion", "input": {}}
    service.polls["q-1"] = 0
    faults.script("POST", CREATE, Fault.json({"status": False, "id": "q-1",
                                                "error": {"message": "Prediction queued"}}))
    prediction = client.predictions.create("truefusion", {"prompt": "x"})
    assert prediction.id == "q-1" and prediction.status == PredictionStatus.PENDING
    assert prediction.message == "Prediction queued" and prediction.error is None
    assert prediction.wait(timeout=5, poll_interval=0.01).status == PredictionStatus.SUCCEEDED


def test_status_false_envelope_without_id_raises(client, faults):
    faults.script("POST", CREATE, Fault.json({"status": False, "response": "Nope", "error": {"message": "Nope"}}))
    with pytest.raises(InvalidJSONError):
        client.predictions.create("truefusion", {"prompt": "x"})


# --------------------------------------------------------------------------- streams cut mid-way


CHUNKS = [{"id": "c", "object": "chat.completion.chunk", "model": "m",
           "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in ("Hel", "lo", " wor")]


@pytest.mark.parametrize("declare_length", [False, True])
def test_sse_stream_cut_midway_raises_with_partial(client, faults, declare_length):
    faults.script("POST", "/v1/chat/completions", Fault.truncated_sse(CHUNKS, declare_length=declare_length))
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    seen = []
    with pytest.raises(StreamInterrupted) as info:
        for chunk in stream:
            seen.append(chunk.text)
    assert seen == ["Hel", "lo", " wor"]
    assert info.value.partial["text"] == "Hello wor" and stream.text == "Hello wor"
    assert len(info.value.partial["chunks"]) == 3
    assert faults.count("POST", "/v1/chat/completions") == 1  # a stream in progress is never re-sent


def test_sse_stream_open_is_retried_before_any_event(client, faults):
    faults.script("POST", "/v1/chat/completions", Fault.status(503, headers={"Retry-After": "0"}))
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    assert stream.final().text == "Hello from the fake"
    assert faults.count("POST", "/v1/chat/completions") == 2


def test_sse_stream_open_is_not_resent_after_a_503_that_may_have_run(client, faults):
    faults.script("POST", "/v1/chat/completions", Fault.status(503))  # no Retry-After: a gateway's 503
    with pytest.raises(ServerError) as info:
        client.chat.completions.create(model="m", messages=[], stream=True)
    assert info.value.details["may_have_run"] is True
    assert faults.count("POST", "/v1/chat/completions") == 1


def test_async_twin_under_faults(make_async, faults, service):
    faults.script("GET", MODELS, Fault.rate_limited("0"), Fault.status(500), Fault.drop())
    faults.script("POST", CREATE, Fault.drop_after_handling())
    faults.script("POST", "/v1/chat/completions", Fault.truncated_sse(CHUNKS))

    async def main():
        async with make_async() as c:
            assert len(await c.models.list()) == 3 - 1
            with pytest.raises(NetworkError):
                await c.predictions.create("truefusion", {"prompt": "cat"})
            stream = await c.chat.completions.create(model="m", messages=[], stream=True)
            with pytest.raises(StreamInterrupted) as info:
                async for _ in stream:
                    pass
            return info.value

    err = asyncio.run(main())
    assert err.partial["text"] == "Hello wor"
    assert faults.count("GET", MODELS) == 4
    assert faults.count("POST", CREATE) == 1 and len(service.predictions) == 1


def test_read_timeout_on_create_is_not_retried(faults, service):
    faults.script("POST", CREATE, Fault.slow(0.5))
    with Skytells(KEY, faults.url, timeout=0.2, **FAST) as c, pytest.raises(APITimeoutError) as info:
        c.predictions.create("truefusion", {"prompt": "x"})
    assert info.value.details["may_have_been_created"] is True
    time.sleep(0.4)  # let the slow handler finish: it did create the prediction
    assert faults.count("POST", CREATE) == 1 and len(service.predictions) == 1
