"""verify_webhook is False, never an exception, for any malformed signature; WebhookInbox survives hostile
Content-Length values sent over raw sockets and keeps serving."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from skytells_lab.api import verify_webhook
from skytells_lab.api._webhooks import sign_webhook

SECRET = "whsec_client_hardening_0123456789"
BODY = json.dumps({"type": "prediction.succeeded", "created_at": "2026-01-01T00:00:01.000000Z",
                   "data": {"id": "p-1", "status": "succeeded", "model": {"name": "m", "type": "image"},
                            "input": {}, "output": None, "created_at": "2026-01-01T00:00:00.000000Z"}}).encode()
GOOD = sign_webhook(BODY, SECRET)

MALFORMED = [None, "", " ", "abc", "0" * 63, "0" * 65, GOOD[:-1], GOOD + "0", "é" * 64, "\x00" * 64,
             "\ud800" * 64, "sha256=", "sha256=" + "g" * 64, "sha512=" + GOOD, GOOD + "\n", "٠" * 64,
             "0x" + GOOD[2:], GOOD.replace("a", "A", 1) + " extra", b"\xff" * 64, bytearray(b"\x80" * 64),
             b"", 12, 3.5, [GOOD], {"sig": GOOD}, object(), "0" * 10_000]


@pytest.mark.parametrize("signature", MALFORMED, ids=[f"{i}-{type(s).__name__}" for i, s in enumerate(MALFORMED)])
def test_a_malformed_signature_is_false_never_an_exception(signature):
    assert verify_webhook(BODY, signature, SECRET) is False


def test_well_formed_spellings_still_verify():
    for signature in (GOOD, GOOD.upper(), "sha256=" + GOOD, "SHA256=" + GOOD, f"  {GOOD} ", GOOD.encode(),
                      bytearray(GOOD.encode())):
        assert verify_webhook(BODY, signature, SECRET) is True, signature
    assert verify_webhook(BODY.decode(), GOOD, SECRET.encode()) is True


def test_bad_bodies_and_secrets():
    assert verify_webhook("\ud800", GOOD, SECRET) is False  # unencodable str: never a received body
    for secret in (None, "", b"", 12):
        assert verify_webhook(BODY, GOOD, secret) is False
    with pytest.raises(TypeError, match="raw body"):
        verify_webhook(json.loads(BODY), GOOD, SECRET)  # a parsed body is a bug to fix, not a bad signature


def test_parse_webhook_refuses_unreadable_bodies_with_its_own_error():
    from skytells_lab.api import InvalidJSONError, parse_webhook

    for body in ("\ud800", b"\xff\xfe", b"[" * 100_000, b"nope"):
        with pytest.raises(InvalidJSONError):
            parse_webhook(body)


@pytest.fixture
def inbox(monkeypatch):
    from skytells_lab.notebook import webhook_inbox

    monkeypatch.setattr(webhook_inbox, "READ_TIMEOUT", 0.5)  # the slow-sender case waits this long
    with webhook_inbox.WebhookInbox(secret=SECRET) as box:
        yield box


def _raw(inbox, head: bytes, body: bytes = b"", *, half_close: bool = True, timeout: float = 5.0) -> int | None:
    """Send bytes as they are; the status code of the answer, or None when the inbox hung up without one."""
    host, port = inbox._server.server_address[:2]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head + b"\r\n" + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except OSError:
            pass
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None


def _head(*headers: str, path: str = "/webhook") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return "".join(f"{line}\r\n" for line in lines).encode("utf-8")


HOSTILE = {
    "garbage": (_head("Content-Length: abc"), b"{}", 400),
    "negative": (_head("Content-Length: -5"), b"{}", 400),
    "plus-sign": (_head("Content-Length: +2"), b"{}", 400),
    "float": (_head("Content-Length: 2.0"), b"{}", 400),
    "exponent": (_head("Content-Length: 1e3"), b"{}", 400),
    "arabic-digits": (_head("Content-Length: ١٢"), b"{}", 400),
    "empty": (_head("Content-Length: "), b"{}", 400),
    "huge": (_head("Content-Length: 99999999999999999999999"), b"{}", 413),
    "past-int-digit-limit": (_head("Content-Length: " + "9" * 5000), b"{}", 413),
    "over-max-body": (_head(f"Content-Length: {64 * 1024 * 1024}"), b"{}", 413),
    "conflicting-duplicates": (_head("Content-Length: 2", "Content-Length: 3"), b"{}", 400),
    "chunked": (_head("Transfer-Encoding: chunked"), b"2\r\n{}\r\n0\r\n\r\n", 411),
    "shorter-than-announced": (_head("Content-Length: 100"), b"{}", 400),
}


@pytest.mark.parametrize("case", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_content_length_is_refused_and_the_inbox_keeps_serving(inbox, case):
    head, body, expected = case
    assert _raw(inbox, head, body) == expected
    assert inbox.rejected == 1 and len(inbox) == 0
    signed = httpx.post(inbox.url, content=BODY, headers={"X-Skytells-Signature": GOOD}, timeout=5)
    assert signed.status_code == 200 and len(inbox) == 1


def test_a_sender_that_goes_silent_is_dropped_while_others_are_served(inbox):
    host, port = inbox._server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as stalled:
        stalled.sendall(_head("Content-Length: 100") + b"\r\n{")  # then nothing, connection left open
        signed = httpx.post(inbox.url, content=BODY, headers={"X-Skytells-Signature": GOOD}, timeout=5)
        assert signed.status_code == 200  # served while the other request waits
        answer = stalled.recv(4096)  # the inbox gives up on it after READ_TIMEOUT
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    assert inbox.rejected == 1 and len(inbox) == 1
