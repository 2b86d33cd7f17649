"""The notebook layer: tidy DataFrames, HTML cards, the ``df.skytells`` accessor.

Importing this package never imports pandas; the names below load on first use. ``df.skytells`` is
registered by :func:`register_accessor`, by ``skytells_lab.connect()``, and, once pandas is loaded, by
``import skytells_lab``, ``import skytells_lab.notebook`` and ``skytells_lab.notebook.vectors`` (which
imports pandas itself) as they load.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
from typing import TYPE_CHECKING

from skytells_lab._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS = {
    "Budget": "skytells_lab.notebook.ledger",
    "Cache": "skytells_lab.notebook.cache",
    "ImageGrid": "skytells_lab.notebook.display",
    "Ledger": "skytells_lab.notebook.ledger",
    "PredictionFrame": "skytells_lab.notebook.frames",
    "WebhookInbox": "skytells_lab.notebook.webhook_inbox",
    "chat_frame": "skytells_lab.notebook.frames",
    "embeddings_frame": "skytells_lab.notebook.frames",
    "models_frame": "skytells_lab.notebook.frames",
    "predictions_frame": "skytells_lab.notebook.frames",
    "provenance": "skytells_lab.notebook.frames",
    "read_parquet": "skytells_lab.notebook.vectors",
    "responses_frame": "skytells_lab.notebook.frames",
    "show_images": "skytells_lab.notebook.display",
}

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
    "register_accessor",
    "responses_frame",
    "show_images",
]


def register_accessor() -> None:
    """Register ``df.skytells`` (importing pandas), and ``ddf.skytells`` when dask.dataframe is loaded."""
    _importlib.import_module("skytells_lab.notebook.accessor")
    if "dask.dataframe" in _sys.modules:
        _importlib.import_module("skytells_lab.notebook.dask_accessor")


def _register_if_loaded() -> None:
    if "pandas" in _sys.modules:
        register_accessor()


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)


_register_if_loaded()

if TYPE_CHECKING:  # pragma: no cover
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
