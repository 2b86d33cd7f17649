"""Hostile response headers are judged by value: nothing crashes, nothing sleeps past the cap.

A loopback server sends each value as raw header bytes (UTF-8 where it is not Latin-1).
"""

from __future__ import annotations

import time

import pytest
from support.faults import Fault, FaultServer, Reply

from skytells_lab.api import RateLimitError, RedirectError, ServerError, Skytells, parse_retry_after
from skytells_lab.api._http import RETRY_AFTER_CEILING

FAST = {"backoff_base": 0.01, "backoff_max": 0.05}
MODELS = [{"name": "truefusion", "type": "image"}]


def _wire(text: str) -> str:
    """``text`` as the str BaseHTTPRequestHandler writes byte for byte (it encodes header values Latin-1)."""
    return text.encode("utf-8").decode("latin-1")


@pytest.fixture
def srv():
    with FaultServer() as server:
        server.route("GET", "/v1/models", lambda req: Reply.json(MODELS))
        yield server


IGNORED = ["nan", "NaN", "-5", "-0.5", "1e308", "1E3", "inf", "-Infinity", "1_0", "0x10", "1.5.5", " ", "é",
           _wire("١٢"), _wire("５"), "Fri, 99 Foo 2020 99:99:99 GMT", "Sat, 01 Jan 10000 00:00:00 GMT"]
CAPPED = ["9" * 400, "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT"]


@pytest.mark.parametrize("value", IGNORED, ids=[f"ignored-{i}" for i in range(len(IGNORED))])
def test_an_unusable_retry_after_is_ignored_and_the_backoff_applies(srv, value):
    srv.script("GET", "/v1/models", Fault.status(429, headers={"Retry-After": value}))
    started = time.monotonic()
    with Skytells("sk-test", srv.url, max_retries=2, **FAST) as client:
        assert [m.slug for m in client.models.list()] == ["truefusion"]
    assert time.monotonic() - started < 2.0
    assert srv.count("GET", "/v1/models") == 2


@pytest.mark.parametrize("value", CAPPED, ids=["digits-400", "digits-11", "year-9999"])
def test_a_huge_retry_after_is_capped_and_raised_at_once(srv, value):
    srv.script("GET", "/v1/models", Fault.status(429, headers={"Retry-After": value}))
    started = time.monotonic()
    with Skytells("sk-test", srv.url, max_retries=3, **FAST) as client, pytest.raises(RateLimitError) as info:
        client.models.list()
    assert time.monotonic() - started < 2.0
    assert info.value.retry_after == RETRY_AFTER_CEILING  # a day, not 1e308 or 8,000 years
    assert srv.count("GET", "/v1/models") == 1


def test_a_503_with_an_unusable_retry_after_is_no_promise_that_nothing_ran(srv):
    srv.script("POST", "/v1/embeddings", Fault.status(503, headers={"Retry-After": "nan"}))
    with Skytells("sk-test", srv.url, max_retries=3, **FAST) as client, pytest.raises(ServerError) as info:
        client.embeddings.create(model="m", input=["x"])
    assert info.value.retry_after is None and info.value.details["may_have_run"] is True
    assert srv.count("POST", "/v1/embeddings") == 1


def test_parse_retry_after_values():
    now = 1_700_000_000.0
    assert parse_retry_after("12") == 12.0 and parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now=now) == 0.0  # in the past: now
    for value in (None, "", "nan", "-1", "inf", "1e3", "١٢", "\x00", "9" * 20_000):
        assert parse_retry_after(value) is None, value
    assert parse_retry_after("9" * 5000) == RETRY_AFTER_CEILING


def test_hostile_rate_limit_and_request_id_headers_do_not_break_a_success(srv):
    hostile = {"x-skytells-ratelimit-remaining-requests": "²",  # str.isdigit() says yes, int() says no
               "x-skytells-ratelimit-limit-requests": "9" * 5000,  # past Python's int digit limit
               "x-skytells-ratelimit-remaining-tokens-in": _wire("١٢"),
               "x-skytells-ratelimit-window": "1e308s",
               "x-skytells-ratelimit-limit-tokens-out": "-3",
               "x-request-id": "r" * 5000}
    srv.script("GET", "/v1/models", Fault("reply", Reply.json(MODELS, headers=hostile)))
    srv.script("GET", "/v1/models/missing", Fault("reply", Reply.json({"error": {"message": "no"}}, 404, hostile)))
    with Skytells("sk-test", srv.url, max_retries=0) as client:
        assert len(client.models.list()) == 1
        limits = client.rate_limits
        assert limits["remaining_requests"] == "²" and limits["limit_tokens_out"] == "-3"
        assert isinstance(limits["limit_requests"], str) and len(limits["limit_requests"]) <= 100
        embedded = client.embed([], model="m", progress=False)  # the pacing reads these headers
        assert embedded.shape[0] == 0
        with pytest.raises(Exception) as info:
            client.models.get("missing")
    assert len(str(info.value)) < 600  # the 5,000-character request id is cut


def test_a_hostile_location_is_shown_bounded(srv):
    idn = _wire("http://例え.テスト/" + "a" * 9000)
    srv.script("GET", "/v1/models", Fault("reply", Reply(302, b"[]", {"Location": idn})))
    srv.script("GET", "/v1/models/x", Fault("reply", Reply(302, b"[]", {"Location": "http://[::1"})))
    with Skytells("sk-test", srv.url, max_retries=0) as client:
        with pytest.raises(RedirectError) as info:
            client.models.list()
        assert info.value.location is not None and len(info.value.location) <= 303
        with pytest.raises(RedirectError) as info:
            client.models.get("x")
        assert "not a valid URL" in str(info.value)
        srv.script("POST", "/v1/chat/completions", Fault("reply", Reply(307, b"", {"Location": "http://[::1"})))
        with pytest.raises(RedirectError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert "may have" not in str(info.value)
    assert srv.count("GET", "/v1/models/x") == 1


@pytest.mark.parametrize("option", ["backoff_base", "backoff_max", "max_retry_after"])
def test_retry_settings_are_judged_by_value(option):
    for bad in (float("nan"), -1.0, "5"):
        with pytest.raises(ValueError, match=option):
            Skytells("sk-test", "http://127.0.0.1:9/v1", **{option: bad})
    with pytest.raises(ValueError, match="max_retries"):
        Skytells("sk-test", "http://127.0.0.1:9/v1", max_retries=-1)


def test_an_output_url_that_is_no_url_is_a_clear_error():
    from skytells_lab.api import InvalidInputError
    from skytells_lab.api._operations import fetch_file

    with Skytells("sk-test", "http://127.0.0.1:9/v1", max_retries=0) as client:
        for url in ("http://[::1/x.png", "https://[zz]/x.png"):
            with pytest.raises(InvalidInputError) as info:
                client._execute(fetch_file(url, client.base_url))
            assert info.value.error_id == "INVALID_URL"
