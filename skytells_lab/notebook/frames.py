"""Tidy pandas DataFrames of the client's results, with run provenance in ``df.attrs["skytells"]``.

The client builds them (:mod:`skytells_lab.api._frames`, from the records of its types' ``to_records()``);
this is where the notebook layer and its users find them:

* :func:`predictions_frame` - one row per prediction across every page (a :class:`PredictionFrame`, whose
  notebook display shows media inputs and image outputs as small previews while the data holds plain URIs).
* :func:`models_frame` - the catalog, one row per model, with pricing and capabilities.
* :func:`chat_frame` / :func:`responses_frame` - one row per choice / output item, usage, finish reason and
  the safety results flattened into columns.
* :func:`embeddings_frame` - one row per text; the vectors stay ONE float32 matrix reachable through
  ``df.skytells.vectors()`` (see :mod:`skytells_lab.notebook.vectors`).
"""

from __future__ import annotations

from skytells_lab.api._frames import (
    PREDICTION_COLUMNS,
    PredictionFrame,
    _typed_prediction_frame,  # noqa: F401 - the unit tests build typed frames from rows
    chat_frame,
    embeddings_frame,
    models_frame,
    models_frame_async,
    predictions_frame,
    predictions_frame_async,
    provenance,
    responses_frame,
    safety_frame,
)
from skytells_lab.api._records import chat_rows, prediction_rows, response_rows

__all__ = [
    "PREDICTION_COLUMNS",
    "PredictionFrame",
    "chat_frame",
    "chat_rows",
    "embeddings_frame",
    "models_frame",
    "models_frame_async",
    "prediction_rows",
    "predictions_frame",
    "predictions_frame_async",
    "provenance",
    "response_rows",
    "responses_frame",
    "safety_frame",
]
