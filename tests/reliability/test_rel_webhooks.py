"""Webhook verification rejects tampering; WebhookInbox keeps one copy of a replayed delivery."""

from __future__ import annotations

import json

import httpx
import pytest

from skytells_lab.api import verify_webhook
from skytells_lab.api._webhooks import sign_webhook

SECRET = "whsec_reliability_0123456789"


def _body(pid: str = "p-1", status: str = "succeeded") -> bytes:
    prediction = {"id": pid, "status": status, "model": {"name": "digits-diffusion", "type": "image"},
                  "input": {"prompt": "3"}, "output": None, "created_at": "2026-01-01T00:00:00.000000Z"}
    return json.dumps({"type": f"prediction.{status}", "created_at": "2026-01-01T00:00:01.000000Z",
                       "data": prediction}, separators=(",", ":")).encode()


def test_verification_rejects_wrong_signature_modified_body_missing_header():
    body = _body()
    good = sign_webhook(body, SECRET)
    assert verify_webhook(body, good, SECRET)
    assert not verify_webhook(body, sign_webhook(body, SECRET + "x"), SECRET)   # wrong secret
    assert not verify_webhook(body, "0" * 64, SECRET)                           # wrong signature
    assert not verify_webhook(body, good[:-1], SECRET)                          # truncated signature
    assert not verify_webhook(body + b" ", good, SECRET)                        # modified body
    assert not verify_webhook(body.replace(b"succeeded", b"failed"), good, SECRET)
    assert not verify_webhook(body, None, SECRET)                                # missing header
    assert not verify_webhook(body, "", SECRET)
    assert not verify_webhook(body, good, "")                                    # no secret configured


@pytest.fixture
def inbox():
    from skytells_lab.notebook.webhook_inbox import WebhookInbox

    with WebhookInbox(secret=SECRET) as box:
        yield box


def _post(inbox, body: bytes, signature: str | None, delivery: str | None = "d-1") -> int:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["X-Skytells-Signature"] = signature
    if delivery is not None:
        headers["X-Skytells-Delivery"] = delivery
    return httpx.post(inbox.url, content=body, headers=headers, timeout=10).status_code


def test_inbox_rejects_tampered_and_unsigned_deliveries(inbox):
    body = _body()
    assert _post(inbox, body, "0" * 64) == 401
    assert _post(inbox, body.replace(b"succeeded", b"failed"), sign_webhook(body, SECRET)) == 401
    assert _post(inbox, body, None) == 401
    assert len(inbox) == 0 and inbox.rejected == 3
    assert _post(inbox, body, sign_webhook(body, SECRET)) == 200
    assert len(inbox) == 1


def test_inbox_drops_replays(inbox):
    body = _body("p-replay")
    signature = sign_webhook(body, SECRET)
    assert _post(inbox, body, signature, delivery="d-7") == 200
    # a redelivery (same delivery id, e.g. after a lost 2xx) and a captured request replayed verbatim
    assert _post(inbox, body, signature, delivery="d-7") in (200, 208, 409)
    assert _post(inbox, body, signature, delivery=None) in (200, 208, 409)
    assert len(inbox.matching(prediction_id="p-replay")) == 1
    assert len(inbox.frame()) == 1
    # a different event of the same prediction is not a replay
    other = _body("p-replay", "failed")
    assert _post(inbox, other, sign_webhook(other, SECRET), delivery="d-8") == 200
    assert len(inbox.matching(prediction_id="p-replay")) == 2
