"""Webhook signature verification and both payload forms."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from skytells_lab.api import PredictionStatus, parse_webhook, sign_webhook, verify_webhook

SECRET = "whsec-or-sk-key"
PREDICTION = {"id": "d05b96fc", "status": "succeeded", "model": {"name": "truefusion-pro", "type": "image"},
              "output": ["https://cdn/x.png"], "created_at": "2026-03-06T20:15:20.000000Z"}


def test_signature_round_trip():
    body = json.dumps(PREDICTION).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign_webhook(body, SECRET) == signature
    assert verify_webhook(body, signature, SECRET)
    assert verify_webhook(body, signature.upper(), SECRET)
    assert verify_webhook(body, "sha256=" + signature, SECRET)
    assert not verify_webhook(body, signature, "other-secret")
    assert not verify_webhook(body + b" ", signature, SECRET)  # modified body
    assert not verify_webhook(body, None, SECRET)  # missing header
    assert not verify_webhook(body, "", SECRET)
    assert not verify_webhook(body, "zz" * 32, SECRET)


@settings(max_examples=40, deadline=None, database=None)
@given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
def test_any_change_to_the_body_is_rejected(body, other):
    signature = sign_webhook(body, SECRET)
    assert verify_webhook(body, signature, SECRET)
    if other != body:
        assert not verify_webhook(other, signature, SECRET)


def test_envelope_form():
    raw = json.dumps({"type": "prediction.succeeded", "created_at": "2026-03-06T20:15:23.000000Z",
                      "data": PREDICTION}).encode()
    event = parse_webhook(raw)
    assert event.type == "prediction.succeeded" and event.created_at.tzinfo is not None
    assert event.prediction.id == "d05b96fc" and event.prediction.model == "truefusion-pro"
    assert event.prediction.status == PredictionStatus.SUCCEEDED


def test_bare_prediction_form():
    event = parse_webhook(json.dumps({**PREDICTION, "status": "canceled"}))
    assert event.type == "prediction.cancelled" and event.prediction.is_terminal
    assert "WebhookEvent(" in repr(event)
