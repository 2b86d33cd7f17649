"""skytells-lab: a Jupyter-first toolkit for the Skytells API v1.

Importing this package is cheap: the client, the embedded server, pandas, torch, scikit-learn,
matplotlib and ipywidgets are all loaded on first use of the name that needs them.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from skytells_lab._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "connect": "skytells_lab.api",
    "Skytells": "skytells_lab.api",
    "AsyncSkytells": "skytells_lab.api",
    "errors": "skytells_lab.api",
    "SkytellsError": "skytells_lab.api",
    "PredictionFailed": "skytells_lab.api",
    "verify_webhook": "skytells_lab.api",
    "parse_webhook": "skytells_lab.api",
    "WebhookInbox": "skytells_lab.notebook.webhook_inbox",
    "show_images": "skytells_lab.notebook.display",
    "EmbeddingSpace": "skytells_lab.analysis",
    "compare_spaces": "skytells_lab.analysis",
    "compare": "skytells_lab.comparison",
    "parity": "skytells_lab.comparison",
}
_SUBMODULES = {"api", "local", "notebook", "widgets", "analysis", "comparison", "cli"}

__all__ = [
    "AsyncSkytells", "EmbeddingSpace", "PredictionFailed", "Skytells", "SkytellsError", "WebhookInbox",
    "__version__", "compare", "compare_spaces", "connect", "errors", "parity", "parse_webhook", "show_images",
    "verify_webhook",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"skytells_lab.{name}")
    else:
        raise AttributeError(f"module 'skytells_lab' has no attribute {name!r}")
    globals()[name] = value
    return value


def register_pandas_accessor() -> None:
    """Make `df.skytells` available once pandas is loaded, and `ddf.skytells` once dask.dataframe is
    (never imports either itself)."""
    if "pandas" in sys.modules:
        importlib.import_module("skytells_lab.notebook.accessor")
    if "dask.dataframe" in sys.modules:
        importlib.import_module("skytells_lab.notebook.dask_accessor")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


register_pandas_accessor()

if TYPE_CHECKING:  # pragma: no cover
    from skytells_lab.analysis import EmbeddingSpace, compare_spaces
    from skytells_lab.api import (
        AsyncSkytells,
        PredictionFailed,
        Skytells,
        SkytellsError,
        connect,
        errors,
        parse_webhook,
        verify_webhook,
    )
    from skytells_lab.comparison import compare, parity
    from skytells_lab.notebook.display import show_images
    from skytells_lab.notebook.webhook_inbox import WebhookInbox
