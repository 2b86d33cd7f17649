"""The server's errors: one exception, rendered as the REST envelope or the OpenAI-style inference error."""

from __future__ import annotations

from typing import Any

# The inference sub-APIs answer OpenAI-shaped errors; everything else the unified REST envelope.
INFERENCE_PATHS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")

_INFERENCE_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error answered to the caller: `http_status` and `error_id` as the service names them."""

    def __init__(self, http_status: int, error_id: str, message: str, details: Any = None, *,
                 response: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.error_id = error_id
        self.message = message
        self.details = details
        self.response = response or message
        self.param = param
        self.headers = headers or {}

    def rest_body(self) -> dict:
        return {"status": False, "response": self.response,
                "error": {"http_status": self.http_status, "message": self.message,
                          "details": self.details, "error_id": self.error_id}}

    def inference_body(self, request_id: str | None) -> dict:
        return {"error": {"message": self.message,
                          "type": _INFERENCE_TYPES.get(self.http_status, "server_error"),
                          "code": self.error_id.lower(), "error_id": self.error_id,
                          "status": self.http_status, "param": self.param, "request_id": request_id,
                          "details": self.details if self.details is not None else {}}}

    def body_for(self, path: str, request_id: str | None) -> dict:
        if path.startswith(INFERENCE_PATHS):
            return self.inference_body(request_id)
        return self.rest_body()


def validation_error(field: str, message: str, fix: str) -> ApiError:
    """422 VALIDATION_ERROR naming the field and how to fix it."""
    return ApiError(422, "VALIDATION_ERROR", f"Invalid input '{field}': {message}. {fix}",
                    {"field": field, "problem": message, "fix": fix}, param=field)


def bad_request(message: str, param: str | None = None, error_id: str = "INVALID_REQUEST") -> ApiError:
    return ApiError(400, error_id, message, {"param": param} if param else None, param=param)
