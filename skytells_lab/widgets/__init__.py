"""ipywidgets 8 UIs: pick a model, fill its inputs, run it, compare results, explore an embedding space.

    from skytells_lab.widgets import Playground
    Playground(client)

Each class lives in its own module and is imported on first use, so `import skytells_lab.widgets` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skytells_lab._lazy import lazy_exports

_EXPORTS = {
    "ModelPicker": "skytells_lab.widgets.picker",
    "InputForm": "skytells_lab.widgets.form",
    "Playground": "skytells_lab.widgets.playground",
    "CompareView": "skytells_lab.widgets.compare_view",
    "EmbeddingExplorer": "skytells_lab.widgets.explorer",
    "SpaceCompareView": "skytells_lab.widgets.space_compare",
}

__all__ = ["CompareView", "EmbeddingExplorer", "InputForm", "ModelPicker", "Playground", "SpaceCompareView"]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover
    from skytells_lab.widgets.compare_view import CompareView
    from skytells_lab.widgets.explorer import EmbeddingExplorer
    from skytells_lab.widgets.form import InputForm
    from skytells_lab.widgets.picker import ModelPicker
    from skytells_lab.widgets.playground import Playground
    from skytells_lab.widgets.space_compare import SpaceCompareView
