"""Webhooks: verify ``X-Skytells-Signature`` and parse either payload form (wire-protocol §2)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from skytells_lab.api import errors as E
from skytells_lab.api._types import Prediction, WebhookEvent, _parse_time

SIGNATURE_HEADER = "X-Skytells-Signature"


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def sign_webhook(raw_body: bytes | str, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body, as the service signs it."""
    return hmac.new(_bytes(secret), _bytes(raw_body), hashlib.sha256).hexdigest()


def verify_webhook(raw_body: bytes | str, signature: str | bytes | None, secret: str | bytes) -> bool:
    """True when ``signature`` is the HMAC-SHA256 of exactly these bytes under ``secret`` (constant time).

    Pass the body as received, before any JSON parsing. ``signature`` is the header value, 64 hex digits,
    optionally after ``sha256=``; anything else (None, empty, the wrong length, non-hex, non-ASCII, a value
    of another type) is False, never an exception: a sender controls the header.
    """
    if not isinstance(raw_body, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"verify_webhook() takes the raw body as bytes or str, got {type(raw_body).__name__}: "
                        "pass the request body as received, before any JSON parsing")
    candidate = _signature_hex(signature)
    if candidate is None or not secret or not isinstance(secret, (str, bytes)):
        return False
    try:
        expected = sign_webhook(raw_body, secret)
    except UnicodeEncodeError:  # a str holding lone surrogates is no body that was ever received
        return False
    return hmac.compare_digest(expected, candidate)


_HEX_SIGNATURE = re.compile(r"(?:sha256=)?([0-9a-f]{64})", re.ASCII | re.IGNORECASE)


def _signature_hex(signature: object) -> str | None:
    """The 64 lowercase hex digits of a well-formed signature header value, else None."""
    if isinstance(signature, (bytes, bytearray)):
        try:
            signature = bytes(signature).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(signature, str) or len(signature) > 128:
        return None
    match = _HEX_SIGNATURE.fullmatch(signature.strip(" \t"))
    return match.group(1).lower() if match else None


def parse_webhook(raw_body: bytes | str | dict) -> WebhookEvent:
    """The envelope ``{type, created_at, data: Prediction}`` or a bare Prediction, as a WebhookEvent."""
    if isinstance(raw_body, dict):
        body: Any = raw_body
    else:
        try:
            body = json.loads(_bytes(raw_body))
        except (ValueError, RecursionError):  # UnicodeError (lone surrogates) is a ValueError too
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
