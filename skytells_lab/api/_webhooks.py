"""Webhooks: verify ``X-Skytells-Signature`` and parse either payload form (wire-protocol §2)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from skytells_lab.api import errors as E
from skytells_lab.api._types import Prediction, WebhookEvent, _parse_time

SIGNATURE_HEADER = "X-Skytells-Signature"


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def sign_webhook(raw_body: bytes | str, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body, as the service signs it."""
    return hmac.new(_bytes(secret), _bytes(raw_body), hashlib.sha256).hexdigest()


def verify_webhook(raw_body: bytes | str, signature: str | None, secret: str) -> bool:
    """True when ``signature`` is the HMAC-SHA256 of exactly these bytes under ``secret`` (constant time).

    Pass the body as received, before any JSON parsing; a missing or malformed signature is False.
    """
    if not signature or not secret:
        return False
    candidate = signature.strip()
    if candidate.lower().startswith("sha256="):
        candidate = candidate[7:]
    return hmac.compare_digest(sign_webhook(raw_body, secret), candidate.lower())


def parse_webhook(raw_body: bytes | str | dict) -> WebhookEvent:
    """The envelope ``{type, created_at, data: Prediction}`` or a bare Prediction, as a WebhookEvent."""
    if isinstance(raw_body, dict):
        body: Any = raw_body
    else:
        try:
            body = json.loads(_bytes(raw_body))
        except ValueError:
            raise E.InvalidJSONError("webhook body is not JSON") from None
    if not isinstance(body, dict):
        raise E.InvalidJSONError("webhook body is not a JSON object")
    if isinstance(body.get("data"), dict) and "id" in body["data"]:
        prediction = Prediction.model_validate(body["data"])
        kind = body.get("type") or body.get("event") or f"prediction.{prediction.status}"
        created = body.get("created_at")
    elif "id" in body:
        prediction = Prediction.model_validate(body)
        kind = f"prediction.{prediction.status}"
        created = body.get("updated_at") or body.get("completed_at") or body.get("created_at")
    else:
        raise E.InvalidInputError("webhook body is neither an event envelope nor a prediction", http_status=None)
    return WebhookEvent(type=str(kind), created_at=_parse_time(created), prediction=prediction, raw=body)
