"""A 3xx is an error naming the status and where it pointed; the API key never reaches another origin.

Two loopback servers on different ports are two origins: the first redirects, the second records what it
was sent.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from support.faults import FaultServer, Reply

from skytells_lab.api import AsyncSkytells, RedirectError, Skytells
from skytells_lab.api._operations import MAX_FILE_REDIRECTS, fetch_file

KEY = "sk-redirect-SECRET-0123456789abcdef"
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}
MODELS = [{"name": "truefusion", "type": "image"}]


@pytest.fixture
def api():
    with FaultServer() as server:
        yield server


@pytest.fixture
def other():
    """Another origin (another port) that answers everything and records who asked."""
    with FaultServer() as server:
        server.route("GET", "/v1/models", lambda req: Reply.json(MODELS))
        server.route("POST", "/v1/chat/completions", lambda req: Reply.json({"id": "x", "choices": []}))
        server.route("GET", "/files/.*", lambda req: Reply(200, b"PNGDATA", {"Content-Type": "image/png"}))
        yield server


def _redirect(code: int, location: str, body: bytes = b"[]"):
    return lambda req: Reply(code, body, {"Location": location, "Content-Type": "application/json"})


def _saw_key(server: FaultServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests
            if KEY in json.dumps(r.headers) or KEY.encode() in r.body]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_never_an_empty_list(api, other, code):
    api.route("GET", "/v1/models", _redirect(code, other.url + "/models"))
    with Skytells(KEY, api.url, max_retries=3, **FAST) as client, pytest.raises(RedirectError) as info:
        client.models.list()
    err = info.value
    assert err.http_status == code and err.error_id == "UNEXPECTED_REDIRECT"
    assert err.location == other.url + "/models"
    assert f"HTTP {code}" in str(err) and other.url + "/models" in str(err)
    assert f"base_url={other.url!r}" in str(err)  # the fix, when the API moved
    assert api.count("GET", "/v1/models") == 1  # not retried
    assert other.requests == []


def test_the_location_shown_is_redacted_of_credentials(api):
    location = f"http://user:hunter2@127.0.0.1:9/v1/models?token=abc123&page=2&api_key={KEY}#frag"
    api.route("GET", "/v1/models", _redirect(302, location))
    with Skytells(KEY, api.url, max_retries=0) as client, pytest.raises(RedirectError) as info:
        client.models.list()
    err = info.value
    texts = [str(err), repr(err), json.dumps(err.details), err.location]
    for text in texts:
        assert "hunter2" not in text and "abc123" not in text and KEY not in text and "frag" not in text
    assert err.location == "http://127.0.0.1:9/v1/models?token=***&page=2&api_key=***"


def test_a_relative_location_is_resolved_and_a_missing_one_is_said(api):
    api.route("GET", "/v1/models", _redirect(307, "/v2/models"))
    api.route("GET", "/v1/models/x", lambda req: Reply(302, b"{}", {}))
    with Skytells(KEY, api.url, max_retries=0) as client:
        with pytest.raises(RedirectError) as info:
            client.models.list()
        assert info.value.location == api.origin + "/v2/models"
        with pytest.raises(RedirectError) as info:
            client.models.get("x")
        assert info.value.location is None and "without a Location" in str(info.value)


@pytest.mark.parametrize("follow", [False, True], ids=["own-client", "user-client-following"])
def test_the_key_never_reaches_another_origin(api, other, follow):
    """Even on a user's httpx.Client(follow_redirects=True), which keeps x-api-key across origins."""
    api.route("GET", "/v1/models", _redirect(307, other.url + "/models"))
    api.route("POST", "/v1/chat/completions", _redirect(308, other.url + "/chat/completions"))
    http = httpx.Client(follow_redirects=True) if follow else None
    with Skytells(KEY, api.url, max_retries=2, http_client=http, **FAST) as client:
        with pytest.raises(RedirectError):
            client.models.list()
        with pytest.raises(RedirectError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    if http is not None:
        http.close()
    assert api.requests and all(r.headers.get("x-api-key") == KEY for r in api.requests)
    assert other.requests == []
    assert _saw_key(other) == []


def test_the_key_never_reaches_another_origin_async(api, other):
    api.route("GET", "/v1/models", _redirect(302, other.url + "/models"))

    async def main():
        async with httpx.AsyncClient(follow_redirects=True) as http, \
                AsyncSkytells(KEY, api.url, http_client=http, max_retries=1, **FAST) as client:
            with pytest.raises(RedirectError):
                await client.models.list()

    asyncio.run(main())
    assert api.count("GET", "/v1/models") == 1 and other.requests == []


def test_an_output_file_behind_a_redirect_is_fetched_without_the_key(api, other):
    """Files may redirect to storage: followed, but the next origin gets no key."""
    api.route("GET", "/files/a.png", _redirect(302, other.origin + "/files/a.png?X-Signature=abc"))
    with Skytells(KEY, api.url, max_retries=0) as client:
        data = client._execute(fetch_file(api.origin + "/files/a.png", client.base_url))
    assert data == b"PNGDATA"
    assert api.requests[0].headers.get("x-api-key") == KEY  # the API's own origin gets it
    assert other.count("GET", "/files/a.png") == 1
    assert _saw_key(other) == []
    seen = {k.lower() for k in other.requests[0].headers}
    assert "x-api-key" not in seen and "authorization" not in seen


def test_file_redirects_are_bounded(api):
    api.route("GET", "/files/loop.png", _redirect(302, api.origin + "/files/loop.png"))
    with Skytells(KEY, api.url, max_retries=0) as client:
        with pytest.raises(RedirectError):
            client._execute(fetch_file(api.origin + "/files/loop.png", client.base_url))
        assert api.count("GET", "/files/loop.png") == MAX_FILE_REDIRECTS + 1
