"""The notebook layer: tidy DataFrames, HTML cards, the ``df.skytells`` accessor, cache, ledger, budget.

Importing this package registers the pandas accessor ``df.skytells``.
"""

from __future__ import annotations

from skytells_lab.notebook import accessor as _accessor  # noqa: F401 - registers df.skytells
from skytells_lab.notebook.cache import Cache
from skytells_lab.notebook.display import ImageGrid, show_images
from skytells_lab.notebook.frames import (
    PredictionFrame,
    chat_frame,
    embeddings_frame,
    models_frame,
    predictions_frame,
    provenance,
    responses_frame,
)
from skytells_lab.notebook.ledger import Budget, Ledger
from skytells_lab.notebook.vectors import read_parquet
from skytells_lab.notebook.webhook_inbox import WebhookInbox

__all__ = [
    "Budget",
    "Cache",
    "ImageGrid",
    "Ledger",
    "PredictionFrame",
    "WebhookInbox",
    "chat_frame",
    "embeddings_frame",
    "models_frame",
    "predictions_frame",
    "provenance",
    "read_parquet",
    "responses_frame",
    "show_images",
]
