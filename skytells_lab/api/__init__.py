"""The Skytells API v1 client: ``Skytells`` (sync) and ``AsyncSkytells`` (async) over httpx.

>>> import skytells_lab as sl
>>> client = sl.connect()                 # SKYTELLS_API_KEY set -> the service; else the local server
>>> client.run(client.default_image_model, {"prompt": "7"}).images()

``connect`` lives at the package root (the composition root: it may start the embedded server); the
name is also answered here for code that imported it from ``skytells_lab.api``.
"""

from skytells_lab.api import errors
from skytells_lab.api._client import AsyncSkytells, Skytells
from skytells_lab.api._http import DEFAULT_BASE_URL, Call, RetryPolicy, parse_retry_after
from skytells_lab.api._inference_types import (
    ChatCompletion,
    ChatCompletionChunk,
    Embedding,
    EmbeddingResponse,
    Response,
    ResponseEvent,
    Usage,
    accumulate_chunks,
)
from skytells_lab.api._ledger import Budget, Ledger
from skytells_lab.api._prediction_stream import AsyncPredictionStream, PredictionEvent, PredictionStream
from skytells_lab.api._resources import (
    Chat,
    ChatCompletions,
    Embeddings,
    Files,
    Models,
    Predictions,
    Responses,
)
from skytells_lab.api._safety import (
    Safety,
    SafetyCategory,
    SafetyCheckResult,
    SafetyEvaluation,
    SafetyFilterSummary,
    SafetyResults,
    SafetySeverity,
    SafetyTemplate,
    SafetyTemplates,
)
from skytells_lab.api._sse import AsyncChatStream, AsyncResponseStream, ChatStream, ResponseStream
from skytells_lab.api._status import PredictionStatus, normalize_status
from skytells_lab.api._store import Cache, ResultStore
from skytells_lab.api._types import (
    BackendStatus,
    CallRecord,
    Model,
    ModelPage,
    Prediction,
    PredictionPage,
    WebhookEvent,
)
from skytells_lab.api._webhooks import SIGNATURE_HEADER, parse_webhook, sign_webhook, verify_webhook
from skytells_lab.api.errors import (
    APITimeoutError,
    AuthenticationError,
    BudgetExceeded,
    ConfigurationError,
    InvalidInputError,
    InvalidJSONError,
    NetworkError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PredictionFailed,
    RateLimitError,
    RedirectError,
    ServerError,
    SkytellsError,
    StreamInterrupted,
    WaitTimeout,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "SIGNATURE_HEADER",
    "APITimeoutError",
    "AsyncChatStream",
    "AsyncPredictionStream",
    "AsyncResponseStream",
    "AsyncSkytells",
    "AuthenticationError",
    "BackendStatus",
    "Budget",
    "BudgetExceeded",
    "Cache",
    "Call",
    "CallRecord",
    "Chat",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletions",
    "ChatStream",
    "ConfigurationError",
    "Embedding",
    "EmbeddingResponse",
    "Embeddings",
    "Files",
    "InvalidInputError",
    "InvalidJSONError",
    "Ledger",
    "Model",
    "ModelPage",
    "Models",
    "NetworkError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Prediction",
    "PredictionEvent",
    "PredictionFailed",
    "PredictionPage",
    "PredictionStatus",
    "PredictionStream",
    "Predictions",
    "RateLimitError",
    "RedirectError",
    "Response",
    "ResponseEvent",
    "ResponseStream",
    "Responses",
    "ResultStore",
    "RetryPolicy",
    "Safety",
    "SafetyCategory",
    "SafetyCheckResult",
    "SafetyEvaluation",
    "SafetyFilterSummary",
    "SafetyResults",
    "SafetySeverity",
    "SafetyTemplate",
    "SafetyTemplates",
    "ServerError",
    "Skytells",
    "SkytellsError",
    "StreamInterrupted",
    "Usage",
    "WaitTimeout",
    "WebhookEvent",
    "accumulate_chunks",
    "errors",
    "normalize_status",
    "parse_retry_after",
    "parse_webhook",
    "sign_webhook",
    "verify_webhook",
]

