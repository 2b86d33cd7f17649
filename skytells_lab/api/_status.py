"""Prediction status: the service spells it several ways; the client exposes one enum."""

from __future__ import annotations

from enum import Enum


class PredictionStatus(str, Enum):
    PENDING = "pending"
    STARTING = "starting"
    STARTED = "started"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({PredictionStatus.SUCCEEDED, PredictionStatus.FAILED, PredictionStatus.CANCELLED})

# learn docs say queued/canceled, old docs and the CLI canceled, the SDKs pending/cancelled
_ALIASES = {
    "queued": PredictionStatus.PENDING,
    "canceled": PredictionStatus.CANCELLED,
    "completed": PredictionStatus.SUCCEEDED,
    "success": PredictionStatus.SUCCEEDED,
    "in_progress": PredictionStatus.PROCESSING,
    "running": PredictionStatus.PROCESSING,
}


def normalize_status(value: object) -> PredictionStatus | str:
    """Map any wire spelling to :class:`PredictionStatus`; an unknown string is kept as is.

    ``False`` is the ``{"status": false, "id": ...}`` quirk of a just-queued prediction.
    """
    if isinstance(value, PredictionStatus):
        return value
    if value is False or value is None:
        return PredictionStatus.PENDING
    text = str(value).strip().lower()
    if text in _ALIASES:
        return _ALIASES[text]
    try:
        return PredictionStatus(text)
    except ValueError:
        return text


def is_terminal(value: object) -> bool:
    status = normalize_status(value)
    return isinstance(status, PredictionStatus) and status.is_terminal
