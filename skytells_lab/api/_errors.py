"""Turn an HTTP error response into the right :mod:`errors` class.

Three body shapes (wire-protocol §3): the unified REST envelope ``{"status": false, "response", "error":
{http_status, message, details, error_id}}`` (also flat ``{"error_id", "message"}``), the OpenAI-style
``{"error": {message, type, code, error_id, status, param, request_id, details}}``, and a failed prediction
returned with HTTP 200 (handled in ``_types``/``run``). Known ``error_id``s pick the class; unknown ones
map by HTTP status.
"""

from __future__ import annotations

import json
from typing import Any

from skytells_lab.api import errors as E

_BY_ERROR_ID: dict[str, type[E.SkytellsError]] = {
    "UNAUTHORIZED": E.AuthenticationError,
    # the prediction-errors page answers it with 401 (the TS SDK's table says 403): the key cannot be used
    # until the account is restored, which is what an AuthenticationError tells the user to fix
    "ACCOUNT_SUSPENDED": E.AuthenticationError,
    "FORBIDDEN": E.PermissionDeniedError,
    "SECURITY_VIOLATION": E.PermissionDeniedError,
    "CONTENT_POLICY_VIOLATION": E.PermissionDeniedError,
    "MODEL_NOT_FOUND": E.NotFoundError,
    "ENDPOINT_NOT_FOUND": E.NotFoundError,
    "NOT_FOUND": E.NotFoundError,
    "INVALID_PARAMETER": E.InvalidInputError,
    "INVALID_DATE_FORMAT": E.InvalidInputError,
    "INVALID_DATE_RANGE": E.InvalidInputError,
    "INVALID_PARAMETER_COMBINATION": E.InvalidInputError,
    "INVALID_REQUEST": E.InvalidInputError,
    "VALIDATION_ERROR": E.InvalidInputError,
    "INVALID_INPUT": E.InvalidInputError,
    "MODEL_NOT_SUPPORTED": E.InvalidInputError,
    "INSUFFICIENT_CREDITS": E.PaymentRequiredError,
    "PAYMENT_REQUIRED": E.PaymentRequiredError,
    "RATE_LIMIT_EXCEEDED": E.RateLimitError,
    "RATE_LIMITED": E.RateLimitError,
    "INFERENCE_RATE_LIMITED": E.RateLimitError,
    "INTERNAL_ERROR": E.ServerError,
    "INFERENCE_ERROR": E.ServerError,
    "INFRASTRUCTURE_ERROR": E.ServerError,
    "PREDICTION_FAILED": E.ServerError,
    "SERVICE_UNAVAILABLE": E.ServerError,
    "INFERENCE_TIMEOUT": E.APITimeoutError,
    "REQUEST_TIMEOUT": E.APITimeoutError,
}

_BY_OPENAI_TYPE: dict[str, type[E.SkytellsError]] = {
    "authentication_error": E.AuthenticationError,
    "permission_error": E.PermissionDeniedError,
    "invalid_request_error": E.InvalidInputError,
    "not_found_error": E.NotFoundError,
    "rate_limit_error": E.RateLimitError,
    "insufficient_quota": E.PaymentRequiredError,
    "server_error": E.ServerError,
}

# error_ids that say "this will fail again": never retried even on a 5xx
NON_RETRYABLE_ERROR_IDS = frozenset(
    {"INSUFFICIENT_CREDITS", "PAYMENT_REQUIRED", "PREDICTION_FAILED", "ACCOUNT_SUSPENDED", "MODEL_NOT_FOUND"}
)


def class_for_status(status: int) -> type[E.SkytellsError]:
    if status == 401:
        return E.AuthenticationError
    if status in (403, 451):
        return E.PermissionDeniedError
    if status in (404, 410):
        return E.NotFoundError
    if status == 402:
        return E.PaymentRequiredError
    if status == 429:
        return E.RateLimitError
    if status in (408, 504):
        return E.APITimeoutError
    if status >= 500:
        return E.ServerError
    if 400 <= status < 500:
        return E.InvalidInputError
    return E.SkytellsError


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def parse_error_body(body: Any) -> dict[str, Any]:
    """Pull error_id, message, details, request_id, type, http_status out of any known body shape."""
    out: dict[str, Any] = {}
    if not isinstance(body, dict):
        return out
    err = body.get("error")
    if isinstance(err, dict):
        out["error_id"] = err.get("error_id") or (
            err["code"].upper() if isinstance(err.get("code"), str) and not err.get("type") else None
        )
        out["message"] = err.get("message")
        out["details"] = err.get("details")
        out["request_id"] = err.get("request_id")
        out["type"] = err.get("type")
        out["code"] = err.get("code")
        out["param"] = err.get("param")
        status = err.get("http_status", err.get("status"))
        out["http_status"] = status if isinstance(status, int) else None
    elif isinstance(err, str):
        out["message"] = err
    if "error_id" in body and not out.get("error_id"):
        out["error_id"] = body["error_id"]
    if not out.get("message"):
        for key in ("message", "response", "detail"):
            if body.get(key):
                out["message"] = _text(body[key])
                if key == "detail" and not isinstance(body[key], str):
                    out["details"] = body[key]
                break
    if isinstance(body.get("response"), str) and body.get("response") != out.get("message"):
        out.setdefault("response", body["response"])
    out.setdefault("request_id", body.get("request_id"))
    return out


def _scrub(value: Any, secret: str | None) -> Any:
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, dict):
        return {k: _scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    return value


def error_from_response(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    secret: str | None = None,
) -> E.SkytellsError:
    """Build the exception for an HTTP error; ``body`` is parsed JSON or raw text."""
    info = parse_error_body(body)
    error_id = info.get("error_id")
    cls = _BY_ERROR_ID.get(error_id or "") or _BY_OPENAI_TYPE.get(info.get("type") or "")
    if cls is None:
        cls = class_for_status(status)
    message = info.get("message")
    if not message:
        snippet = body.strip()[:200] if isinstance(body, str) else ""
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        error_id = error_id or ("API_ERROR" if isinstance(body, dict) and body else "HTTP_ERROR")
    details = info.get("details")
    if details is None and info.get("param"):
        details = {"param": info["param"]}
    kw: dict[str, Any] = {
        "error_id": error_id,
        "http_status": status,
        "details": _scrub(details, secret),
        "request_id": info.get("request_id") or request_id,
        "retry_after": retry_after,
    }
    return cls(_scrub(str(message), secret), **kw)
