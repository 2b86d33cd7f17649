"""skytells-lab: a Jupyter-first toolkit for the Skytells API v1.

Importing this package is cheap: the client, the embedded server, pandas, torch, scikit-learn,
matplotlib and ipywidgets are all loaded on first use of the name that needs them. ``df.skytells`` is
registered here when pandas is already loaded, else by ``connect()`` or
``skytells_lab.notebook.register_accessor()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skytells_lab._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "connect": "skytells_lab._connect",
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
_SUBMODULES = ("analysis", "api", "cli", "comparison", "local", "notebook", "widgets")

__all__ = [
    "AsyncSkytells",
    "EmbeddingSpace",
    "PredictionFailed",
    "Skytells",
    "SkytellsError",
    "WebhookInbox",
    "__version__",
    "compare",
    "compare_spaces",
    "connect",
    "errors",
    "parity",
    "parse_webhook",
    "show_images",
    "verify_webhook",
]


def __getattr__(name: str):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"skytells_lab.{name}")
    else:
        raise AttributeError(f"module 'skytells_lab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES})


def _register_accessors() -> None:
    """Make ``df.skytells`` available if pandas is loaded, and ``ddf.skytells`` if dask.dataframe is
    (never imports either itself)."""
    import sys

    if "pandas" in sys.modules:
        from skytells_lab.notebook import register_accessor

        register_accessor()


_register_accessors()

if TYPE_CHECKING:  # pragma: no cover
    from skytells_lab._connect import connect
    from skytells_lab.analysis import EmbeddingSpace, compare_spaces
    from skytells_lab.api import (
        AsyncSkytells,
        PredictionFailed,
        Skytells,
        SkytellsError,
        errors,
        parse_webhook,
        verify_webhook,
    )
    from skytells_lab.comparison import compare, parity
    from skytells_lab.notebook.display import show_images
    from skytells_lab.notebook.webhook_inbox import WebhookInbox
