"""SpaceCompareView: two embeddings of the same items side by side (what `compare_spaces(a, b).explore()` shows).

Each side is an EmbeddingExplorer (every point, WebGL, search, hover) coloured by how much an item's
neighbourhood moved between the two spaces (1 - jaccard@k of its k nearest neighbours). The two maps are
linked: a selection in one (lasso, click, search, or Python) highlights the same items in the other, the
hovered item is marked in both, and pan and zoom move both views together (jupyter-scatter's view sync).
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import ipywidgets as widgets
import numpy as np

from skytells_lab.widgets.explorer import EmbeddingExplorer
from skytells_lab.widgets.static import StaticFallback

MOVED = "moved"  # the colour column: 1 - jaccard@k, 0 = same neighbours in both spaces


def _as_space(space: Any, data: Any):
    from skytells_lab.analysis.space import EmbeddingSpace

    if isinstance(space, EmbeddingSpace):
        return space
    return EmbeddingSpace(np.asarray(space, dtype=np.float32), data=None if data is None else data.copy())


class SpaceCompareView(StaticFallback, widgets.VBox):
    """Two linked maps of a SpaceComparison. `view.left` / `view.right` are the two EmbeddingExplorers;
    `view.selected` the selected items with their overlap, jaccard and moved values.

    Parameters: `comparison` (from `sl.compare_spaces(a, b)`), `k` neighbours per search or click,
    `height` of each map in pixels; other keywords go to both explorers.
    """

    def __init__(self, comparison: Any, *, k: int = 10, height: int = 420, **kwargs: Any):
        if comparison.spaces is None:
            raise ValueError("this comparison does not hold its spaces; make it with sl.compare_spaces(a, b)")
        a, b = comparison.spaces
        first = a if hasattr(a, "data") else None
        a = _as_space(a, None)
        b = _as_space(b, a.data.drop(columns=["x", "y", "z"], errors="ignore") if first is not None else None)
        self.comparison = comparison
        frame = comparison.frame
        positions = (a.data.index.get_indexer(frame.index) if first is not None
                     else np.asarray(frame.index, dtype=np.int64))
        moved = np.full(len(a), np.nan)
        moved[positions] = 1.0 - frame["jaccard"].to_numpy(dtype=np.float64)
        self.moved = moved
        extra = {MOVED: moved}
        self.left = EmbeddingExplorer(a, hue=MOVED, extra=extra, k=k, height=height, **kwargs)
        self.right = EmbeddingExplorer(b, hue=MOVED, extra=extra, k=k, height=height, **kwargs)
        self.left.add_class("sl-compare-left")
        self.right.add_class("sl-compare-right")
        sync = uuid.uuid4().hex  # the front end moves every map with this id together
        self.left.map.view_sync = self.right.map.view_sync = sync
        self._linking = False
        for one, other in ((self.left, self.right), (self.right, self.left)):
            one.observe(self._linker(other), names="selection")
            one.map.observe(self._hover_linker(other), names="hovering")
        name_a, name_b = comparison.names
        header = widgets.HTML(comparison._repr_html_())
        sides = [widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>"), explorer],
                              layout=widgets.Layout(width="50%"))
                 for name, explorer in ((name_a, self.left), (name_b, self.right))]
        super().__init__(children=[header, widgets.HBox(sides)])
        self.add_class("sl-space-compare")

    def _linker(self, other: EmbeddingExplorer):
        def link(change) -> None:
            if self._linking:
                return
            self._linking = True
            try:
                other.select(positions=change["new"])
            finally:
                self._linking = False
        return link

    def _hover_linker(self, other: EmbeddingExplorer):
        def link(change) -> None:
            if not self._linking:
                self._linking = True
                try:
                    other.map.hovering = -1 if change["new"] is None else change["new"]
                finally:
                    self._linking = False
        return link

    @property
    def selected(self):
        """The selected items (rows of the first space's data) with overlap, jaccard and moved."""
        rows = self.left.selected.copy()
        rows.insert(0, MOVED, self.moved[self.left.selection])
        return rows

    def select(self, rows=None, *, positions=None) -> SpaceCompareView:
        """Select items in both maps (see EmbeddingExplorer.select)."""
        self.left.select(rows, positions=positions)
        return self

    def __repr__(self) -> str:
        return f"SpaceCompareView({self.comparison!r}, selected={len(self.left.selection):,})"

    def _static_png(self) -> bytes:
        from skytells_lab.widgets import raster

        gap = np.full((420, 12, 3), 255, np.uint8)
        return raster.png_bytes(np.hstack([self.left.image(480, 420), gap, self.right.image(480, 420)]))

    def _static_html(self) -> str:
        names = self.comparison.names
        sides = "".join(f'<div style="flex:1"><b>{html.escape(name)}</b>{explorer._static_html()}</div>'
                        for name, explorer in zip(names, (self.left, self.right)))
        return f'{self.comparison._repr_html_()}<div style="display:flex;gap:12px">{sides}</div>'
