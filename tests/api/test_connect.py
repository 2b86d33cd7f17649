"""connect(): where the key and URL come from, the local fallback, and the clear error."""

from __future__ import annotations

import types

import pytest

from skytells_lab import connect
from skytells_lab.api import AsyncSkytells, ConfigurationError, Skytells, parse_retry_after
from skytells_lab.api._http import RetryPolicy


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("SKYTELLS_API_KEY", raising=False)
    monkeypatch.delenv("SKYTELLS_BASE_URL", raising=False)


@pytest.fixture
def fake_local(monkeypatch):
    from skytells_lab import local

    calls = []
    srv = types.SimpleNamespace(url="http://127.0.0.1:5999/v1", api_key=None)
    monkeypatch.setattr(local, "shared_server", lambda device="auto", dtype=None: calls.append(device) or srv)
    return calls


def test_remote_url_without_key_fails_before_any_request(monkeypatch):
    import httpx

    monkeypatch.setattr(httpx.Client, "send", lambda *a, **k: pytest.fail("a request was sent"))
    with pytest.raises(ConfigurationError) as info:
        connect("https://api.skytells.ai/v1")
    assert "SKYTELLS_API_KEY" in str(info.value) and "export" in str(info.value)
    monkeypatch.setenv("SKYTELLS_BASE_URL", "https://api.skytells.ai/v1")
    with pytest.raises(ConfigurationError):
        connect()
    with pytest.raises(ConfigurationError):
        connect("remote")


def test_key_and_url_from_env(monkeypatch):
    monkeypatch.setenv("SKYTELLS_API_KEY", "sk-env")
    c = connect()
    assert isinstance(c, Skytells) and c.base_url == "https://api.skytells.ai/v1" and not c.is_local
    assert c._api_key.get() == "sk-env"
    monkeypatch.setenv("SKYTELLS_BASE_URL", "https://proxy.example.com/v1/")
    assert connect().base_url == "https://proxy.example.com/v1"
    assert connect(api_key="sk-arg")._api_key.get() == "sk-arg"
    assert connect(base_url="https://other.example.com/v1").base_url == "https://other.example.com/v1"


def test_no_key_no_url_is_the_local_server(fake_local):
    c = connect(device="cpu")
    assert fake_local == ["cpu"] and c.is_local and c.base_url == "http://127.0.0.1:5999/v1"
    assert c.default_chat_model == "smollm2-135m-instruct"
    assert isinstance(connect("local", asynchronous=True), AsyncSkytells)


def test_local_target_even_with_a_key(monkeypatch, fake_local):
    monkeypatch.setenv("SKYTELLS_API_KEY", "sk-env")
    assert connect("local").base_url.startswith("http://127.0.0.1")


def test_loopback_url_without_key_is_fine():
    assert connect("http://127.0.0.1:8000/v1").is_local


def test_hidden_prompt(monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "sk-typed")
    assert connect(api_key=True)._api_key.get() == "sk-typed"


def test_bad_target():
    with pytest.raises(ConfigurationError):
        connect("ftp://x")


def test_retry_after_forms():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_is_jittered_and_capped():
    policy = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=4.0)
    delays = [policy.backoff(a) for a in range(8)]
    assert 0.25 <= delays[0] <= 0.5 and all(d <= 4.0 for d in delays)
    assert len({policy.backoff(2) for _ in range(20)}) > 1
