"""The exceptions the client raises: one class per family, all subclasses of :class:`SkytellsError`.

Every error carries ``error_id``, ``http_status``, ``message``, ``details`` and ``request_id``, whichever of
the service's three error body shapes it was parsed from (see ``_errors.py``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APITimeoutError",
    "AuthenticationError",
    "BudgetExceeded",
    "ConfigurationError",
    "InvalidInputError",
    "InvalidJSONError",
    "NetworkError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PredictionFailed",
    "RateLimitError",
    "RedirectError",
    "ServerError",
    "SkytellsError",
    "StreamInterrupted",
    "WaitTimeout",
]


class SkytellsError(Exception):
    """Base class of every error raised by ``skytells_lab.api``."""

    default_error_id = "UNKNOWN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        error_id: str | None = None,
        http_status: int | None = None,
        details: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id or self.default_error_id
        self.http_status = http_status
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after  # seconds the server asked to wait (``Retry-After``), capped; else None

    def __str__(self) -> str:
        where = []
        if self.http_status:
            where.append(f"HTTP {self.http_status}")
        if self.request_id:
            where.append(f"request {self.request_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        return f"[{self.error_id}] {self.message}{suffix}"

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import error_html

        return error_html(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(error_id={self.error_id!r}, http_status={self.http_status!r}, message={self.message!r})"


class AuthenticationError(SkytellsError):
    default_error_id = "UNAUTHORIZED"


class PermissionDeniedError(SkytellsError):
    default_error_id = "FORBIDDEN"


class NotFoundError(SkytellsError):
    default_error_id = "NOT_FOUND"


class InvalidInputError(SkytellsError):
    default_error_id = "INVALID_INPUT"


class PaymentRequiredError(SkytellsError):
    default_error_id = "PAYMENT_REQUIRED"


class RateLimitError(SkytellsError):
    default_error_id = "RATE_LIMIT_EXCEEDED"


class RedirectError(SkytellsError):
    """The server answered a 3xx. The client never follows one on its own (it could carry the API key to
    another address); ``location`` is where it pointed, with any credentials in it replaced by ``***``."""

    default_error_id = "UNEXPECTED_REDIRECT"

    def __init__(self, message: str, *, location: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.location = location


class ServerError(SkytellsError):
    default_error_id = "SERVER_ERROR"


class APITimeoutError(SkytellsError):
    default_error_id = "REQUEST_TIMEOUT"


class NetworkError(SkytellsError):
    default_error_id = "NETWORK_ERROR"


class InvalidJSONError(SkytellsError):
    default_error_id = "INVALID_JSON"


class PredictionFailed(SkytellsError):
    """A prediction ended ``failed`` (or ``cancelled``); ``.prediction`` is the full object."""

    default_error_id = "PREDICTION_FAILED"

    def __init__(self, message: str, *, prediction: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.prediction = prediction


class WaitTimeout(SkytellsError):
    """A wait hit its deadline; the prediction goes on on the server: resume or cancel it by id."""

    default_error_id = "WAIT_TIMEOUT"

    def __init__(self, message: str, *, prediction_id: str, prediction: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.prediction_id = prediction_id
        self.prediction = prediction


class StreamInterrupted(SkytellsError):
    """A stream ended before its end marker; ``.partial`` holds what arrived (text so far and chunks)."""

    default_error_id = "STREAM_INTERRUPTED"

    def __init__(self, message: str, *, partial: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.partial = partial


class BudgetExceeded(SkytellsError):
    default_error_id = "BUDGET_EXCEEDED"


class ConfigurationError(SkytellsError):
    default_error_id = "CONFIGURATION_ERROR"
