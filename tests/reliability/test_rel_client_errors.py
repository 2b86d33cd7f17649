"""Errors say what happened: "may have reached the server" only when it may have; the right class per code."""

from __future__ import annotations

import socket

import pytest
from support.faults import Fault, FaultServer, Reply
from support.reliability import FAST_DIGITS, FAST_RETRY

from skytells_lab.api import AuthenticationError, Skytells
from skytells_lab.api import errors as E

MAYBE = "may have reached the server"


def _says_nothing_about_reaching(err: E.SkytellsError) -> None:
    assert MAYBE not in str(err) and MAYBE not in repr(err)
    details = err.details if isinstance(err.details, dict) else {}
    assert "may_have_been_created" not in details and "may_have_run" not in details


@pytest.mark.parametrize("call", [
    pytest.param(lambda c: c.predictions.create("digits-diffusion", {"prompt": 5}), id="create-invalid-input"),
    pytest.param(lambda c: c.predictions.create("no-such-model", {"prompt": "x"}), id="create-unknown-model"),
    pytest.param(lambda c: c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}]),
                 id="chat-unknown-model"),
    pytest.param(lambda c: c.embeddings.create(model="all-minilm-l6-v2", input=[]), id="embeddings-empty"),
    pytest.param(lambda c: c.responses.create(model="nope", input="hi"), id="responses-unknown-model"),
])
def test_a_definite_4xx_from_the_real_server_never_says_it_may_have_reached(local_server, proxy, call):
    with Skytells(base_url=proxy.url, max_retries=3, **FAST_RETRY) as client, \
            pytest.raises(E.SkytellsError) as info:
        call(client)
    err = info.value
    assert err.http_status is not None and 400 <= err.http_status < 500, err
    _says_nothing_about_reaching(err)
    # and it was not re-sent (a create first reads the model's catalog entry: the compatibility check)
    sent = {key: n for key, n in proxy.counts.items() if not (key[0] == "GET" and "/models/" in key[1])}
    assert sum(sent.values()) == 1


@pytest.mark.parametrize("fault", [Fault.status(402), Fault.status(403), Fault.status(409), Fault.status(413),
                                   Fault("reply", Reply(307, b"", {"Location": "/elsewhere"}))],
                         ids=["402", "403", "409", "413", "307"])
def test_other_definite_answers_to_a_create_or_a_chat_never_say_it(fault):
    with FaultServer() as srv, Skytells("sk-test", srv.url, max_retries=3, **FAST_RETRY) as client:
        srv.script("POST", "/v1/predictions", fault)
        with pytest.raises(E.SkytellsError) as info:
            client.predictions.create("digits-diffusion", {"prompt": "1", **FAST_DIGITS})
        _says_nothing_about_reaching(info.value)
        srv.script("POST", "/v1/chat/completions", fault)
        with pytest.raises(E.SkytellsError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        _says_nothing_about_reaching(info.value)
        assert srv.count("POST", "/v1/predictions") == 1 and srv.count("POST", "/v1/chat/completions") == 1


def test_a_5xx_or_a_dropped_answer_says_it_may_have_reached(local_server, proxy):
    proxy.script("POST", "/v1/predictions", Fault.status(502), Fault.drop_after_handling())
    with Skytells(base_url=proxy.url, max_retries=3, **FAST_RETRY) as client:
        for _ in range(2):
            with pytest.raises(E.SkytellsError) as info:
                client.predictions.create("digits-diffusion", {"prompt": "1", **FAST_DIGITS})
            assert MAYBE in str(info.value) and info.value.details["may_have_been_created"] is True
    assert proxy.count("POST", "/v1/predictions") == 2


def test_a_refused_connection_says_nothing_was_sent():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with Skytells("sk-test", f"http://127.0.0.1:{port}/v1", max_retries=0) as client, \
            pytest.raises(E.NetworkError) as info:
        client.predictions.create("digits-diffusion", {"prompt": "1"})
    assert "nothing was sent" in str(info.value)
    _says_nothing_about_reaching(info.value)


SUSPENDED_REST = {"status": False, "response": "Account suspended",
                  "error": {"http_status": 401, "message": "Your account is suspended", "details": None,
                            "error_id": "ACCOUNT_SUSPENDED"}}
SUSPENDED_OPENAI = {"error": {"message": "Your account is suspended", "type": "permission_error",
                              "code": "account_suspended", "error_id": "ACCOUNT_SUSPENDED", "status": 403}}


@pytest.mark.parametrize(("status", "body"), [(401, SUSPENDED_REST), (403, SUSPENDED_OPENAI)],
                         ids=["rest-401", "inference-403"])
def test_account_suspended_is_an_authentication_error(status, body):
    with FaultServer() as srv, Skytells("sk-test", srv.url, max_retries=3, **FAST_RETRY) as client:
        srv.script("GET", "/v1/models", Fault.status(status, body))
        srv.script("POST", "/v1/chat/completions", Fault.status(status, body))
        for call in (client.models.list,
                     lambda: client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])):
            with pytest.raises(AuthenticationError) as info:
                call()
            err = info.value
            assert err.error_id == "ACCOUNT_SUSPENDED" and err.http_status == status
            assert "suspended" in err.message
            _says_nothing_about_reaching(err)
        assert srv.count("GET", "/v1/models") == 1 and srv.count("POST", "/v1/chat/completions") == 1
