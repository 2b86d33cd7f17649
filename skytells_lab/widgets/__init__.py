"""ipywidgets 8 UIs: pick a model, fill its inputs, run it, compare results, explore an embedding space.

    from skytells_lab.widgets import Playground
    Playground(client)

Each class lives in its own module and is imported on first use, so `import skytells_lab.widgets` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "ModelPicker": "skytells_lab.widgets.picker",
    "InputForm": "skytells_lab.widgets.form",
    "Playground": "skytells_lab.widgets.playground",
    "CompareView": "skytells_lab.widgets.compare_view",
    "EmbeddingExplorer": "skytells_lab.widgets.explorer",
    "SpaceCompareView": "skytells_lab.widgets.space_compare",
}

__all__ = ["CompareView", "EmbeddingExplorer", "InputForm", "ModelPicker", "Playground", "SpaceCompareView"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'skytells_lab.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # pragma: no cover
    from skytells_lab.widgets.compare_view import CompareView
    from skytells_lab.widgets.explorer import EmbeddingExplorer
    from skytells_lab.widgets.form import InputForm
    from skytells_lab.widgets.picker import ModelPicker
    from skytells_lab.widgets.playground import Playground
    from skytells_lab.widgets.space_compare import SpaceCompareView
