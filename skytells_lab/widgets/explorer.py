"""EmbeddingExplorer: the interactive map of an EmbeddingSpace (what `space.explore()` returns).

The scatter is an SVG drawn here, one `<circle>` per point with a `<title>` (the browser's own hover
tooltip), inside an HTML widget: no plotting library, no front-end extension, works offline and in a
static export alike. Selections come from a text search (its nearest neighbours are highlighted),
from picking groups of the colour column, or from a box of x/y ranges; `explorer.selected` hands the
selected rows back as a DataFrame.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from skytells_lab.widgets import render
from skytells_lab.widgets.static import StaticFallback

# matplotlib's tab10, so the map's colours match space.plot()
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
_MARGIN = 12


class EmbeddingExplorer(StaticFallback, widgets.VBox):
    """Search, pick groups or a box; see the neighbours light up; take the rows.

    Parameters: `space` (an EmbeddingSpace; projected with PCA first if it has no x/y columns), `hue`
    (colour column, default the cluster column), `text` (hover text column, default the space's text
    column), `k` neighbours per search, `max_points` drawn (selected points are always drawn),
    `width`/`height` of the map in pixels.
    """

    selection = traitlets.List(traitlets.Int(), help="positions (0..n-1) of the selected rows")

    def __init__(self, space: Any, *, hue: str | None = None, text: str | None = None, k: int = 10,
                 max_points: int = 2000, width: int = 640, height: int = 420, x: str = "x", y: str = "y",
                 random_state: int = 0, **kwargs: Any):
        self.space = space
        if x not in space.data.columns or y not in space.data.columns:
            space.project()
        cluster = getattr(space, "cluster_column", "cluster")
        self.hue = hue if hue is not None else (cluster if cluster in space.data.columns else None)
        text_column = text or getattr(space, "text_column", "text")
        self.text = text_column if text_column in space.data.columns else None
        self.width, self.height = width, height
        self.xy = space.data[[x, y]].to_numpy(dtype=float)
        self.scores: dict[int, float] = {}  # position -> cosine of the last search's hits
        self.query_point: tuple[float, float] | None = None
        self._thread: threading.Thread | None = None
        n = len(self.xy)
        rng = np.random.default_rng(random_state)
        self._drawn = np.arange(n) if n <= max_points else np.sort(rng.choice(n, max_points, replace=False))

        self.search = widgets.Text(placeholder="search: a text, its neighbours light up", continuous_update=False,
                                   layout=widgets.Layout(width="320px"))
        self.search.add_class("sl-explorer-search")
        self.k = widgets.BoundedIntText(value=k, min=1, max=max(1, min(200, n)), description="k",
                                        layout=widgets.Layout(width="120px"))
        self.search_button = widgets.Button(description="Search", icon="search")
        self.search_button.add_class("sl-explorer-search-button")
        self.clear_button = widgets.Button(description="Clear", icon="times")
        groups = self._groups()
        self.groups = widgets.SelectMultiple(options=groups, rows=min(6, max(2, len(groups))),
                                             description=str(self.hue or "group"),
                                             layout=widgets.Layout(display=None if groups else "none"))
        self.groups.add_class("sl-explorer-groups")
        (x0, x1), (y0, y1) = _bounds(self.xy[:, 0]), _bounds(self.xy[:, 1])
        self.x_range = widgets.FloatRangeSlider(value=(x0, x1), min=x0, max=x1, step=(x1 - x0) / 200,
                                                description="x box", continuous_update=False,
                                                readout_format=".2f")
        self.y_range = widgets.FloatRangeSlider(value=(y0, y1), min=y0, max=y1, step=(y1 - y0) / 200,
                                                description="y box", continuous_update=False,
                                                readout_format=".2f")
        self.plot = widgets.HTML()
        self.plot.add_class("sl-explorer-plot")
        self.info = widgets.HTML()
        self.info.add_class("sl-explorer-info")
        controls = widgets.VBox([
            widgets.HBox([self.search, self.k, self.search_button, self.clear_button]),
            widgets.HBox([self.groups, widgets.VBox([self.x_range, self.y_range])]),
        ])
        super().__init__(children=[controls, self.plot, self.info], **kwargs)
        self.add_class("sl-explorer")
        self.search.observe(lambda _change: self._search_in_background(), names="value")
        self.search_button.on_click(lambda _button: self._search_in_background())
        self.clear_button.on_click(lambda _button: self.clear())
        self.groups.observe(self._groups_changed, names="value")
        self.x_range.observe(self._box_changed, names="value")
        self.y_range.observe(self._box_changed, names="value")
        self._redraw()

    # ------------------------------------------------------------------ selections
    @property
    def selected(self):
        """The selected rows of `space.data` (caller's index kept), with `score` after a search."""
        rows = self.space.data.iloc[list(self.selection)].copy()
        if self.scores:
            rows.insert(0, "score", [self.scores.get(p, np.nan) for p in self.selection])
        return rows

    def search_for(self, query: str, k: int | None = None):
        """Select the `k` nearest neighbours of `query` (space.search) and mark where it lands on the map."""
        k = k or self.k.value
        hits = self.space.search(query, k=k)
        if not self.space.data.index.is_unique:
            raise ValueError("the space's data index has duplicate labels; give it a unique index to explore")
        positions = self.space.data.index.get_indexer(hits.index).tolist()
        self.scores = dict(zip(positions, hits["score"].astype(float)))
        self.query_point = self._place(query)
        self._quiet_controls(groups=(), box=True)
        self.selection = positions
        return hits

    def select_groups(self, values) -> None:
        """Select every row whose colour column is one of `values`."""
        self.scores, self.query_point = {}, None
        if self.hue is None or not values:
            self.selection = []
            return
        column = self.space.data[self.hue].to_numpy()
        self.selection = np.flatnonzero(np.isin(column, list(values))).tolist()

    def select_box(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """Select the rows inside the x and y ranges (the whole map selects nothing)."""
        self.scores, self.query_point = {}, None
        px, py = self.xy[:, 0], self.xy[:, 1]
        inside = (px >= x[0]) & (px <= x[1]) & (py >= y[0]) & (py <= y[1])
        self.selection = [] if inside.all() else np.flatnonzero(inside).tolist()

    def clear(self) -> None:
        self.scores, self.query_point = {}, None
        self._quiet_controls(groups=(), box=True)
        self.search.value = ""
        self.selection = []

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background search has finished (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ callbacks
    def _search_in_background(self) -> None:
        query = self.search.value.strip()
        if not query or (self._thread is not None and self._thread.is_alive()):
            return
        self.info.value = render.status_html("searching", detail=query)
        self._thread = threading.Thread(target=self._search_job, args=(query,), daemon=True,
                                        name="skytells-explorer-search")
        self._thread.start()

    def _search_job(self, query: str) -> None:
        try:
            self.search_for(query)
        except Exception as exc:  # noqa: BLE001 - e.g. no client to embed the query: a card, not a traceback
            self.info.value = render.error_card(exc, title="Search failed")

    _muted = False  # True while code resets a control, so its observer does not select anew

    def _groups_changed(self, change) -> None:
        if not self._muted:
            self._quiet_controls(box=True)
            self.select_groups(change["new"])

    def _box_changed(self, _change=None) -> None:
        if not self._muted:
            self._quiet_controls(groups=())
            self.select_box(self.x_range.value, self.y_range.value)

    def _quiet_controls(self, *, groups=None, box=False) -> None:
        self._muted = True
        try:
            if groups is not None:
                self.groups.value = groups
            if box:
                self.x_range.value = (self.x_range.min, self.x_range.max)
                self.y_range.value = (self.y_range.min, self.y_range.max)
        finally:
            self._muted = False

    @traitlets.observe("selection")
    def _selection_changed(self, _change=None) -> None:
        self._redraw()

    def _place(self, query: str) -> tuple[float, float] | None:
        try:
            placed = self.space.place(query)
            return float(placed["x"].iloc[0]), float(placed["y"].iloc[0])
        except Exception:  # noqa: BLE001 - t-SNE maps cannot place new points; the neighbours still light up
            return None

    # ------------------------------------------------------------------ drawing
    def _groups(self) -> list:
        if self.hue is None:
            return []
        values = self.space.data[self.hue]
        if values.dtype.kind == "f" and values.nunique() > len(PALETTE) * 3:
            return []  # a continuous colour column: no groups to pick
        return sorted(values.dropna().unique().tolist(), key=str)

    def _color_of(self) -> list[str]:
        if self.hue is None:
            return [PALETTE[0]] * len(self.xy)
        values = self.space.data[self.hue].to_numpy()
        groups = self._groups()
        if groups:
            index = {g: i for i, g in enumerate(groups)}
            return [PALETTE[index[v] % len(PALETTE)] if v in index else "#bbbbbb" for v in values]
        lo, hi = np.nanmin(values), np.nanmax(values)
        t = (values - lo) / ((hi - lo) or 1)
        return [f"rgb({int(68 + 185 * v)},{int(1 + 230 * v)},{int(84 - 48 * v)})" for v in np.nan_to_num(t)]

    def _hover(self, position: int) -> str:
        """Tooltip: index label, colour group (and its cluster name), search score; the text below."""
        row = self.space.data.iloc[position]
        facts = [str(self.space.data.index[position])]
        if self.hue is not None:
            names = getattr(self.space, "cluster_names_", {}) or {}
            value = row[self.hue]
            facts.append(f"{self.hue}={value}" + (f" ({names[value]})" if value in names else ""))
        if position in self.scores:
            facts.append(f"score={self.scores[position]:.3f}")
        head = " \u00b7 ".join(facts)
        if self.text is None:
            return head
        text = str(row[self.text])
        return head + "\n" + (text if len(text) <= 160 else text[:159] + "\u2026")

    def svg(self) -> str:
        """The current map as an SVG string (hover titles, highlighted selection, the query's place)."""
        w, h = self.width, self.height
        (x0, x1), (y0, y1) = _bounds(self.xy[:, 0]), _bounds(self.xy[:, 1])

        def px(x: float, y: float) -> tuple[float, float]:
            return (_MARGIN + (x - x0) / (x1 - x0) * (w - 2 * _MARGIN),
                    h - _MARGIN - (y - y0) / (y1 - y0) * (h - 2 * _MARGIN))

        colors = self._color_of()
        chosen = set(self.selection)
        radius = 3.5 if len(self._drawn) < 500 else 2.5
        faded = ' fill-opacity="0.25"' if chosen else ' fill-opacity="0.8"'
        circles = []
        for p in np.union1d(self._drawn, np.fromiter(chosen, dtype=int, count=len(chosen))).tolist():
            if p in chosen:
                continue
            cx, cy = px(*self.xy[p])
            circles.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{colors[p]}"{faded}>'
                           f"<title>{html.escape(self._hover(p))}</title></circle>")
        for p in self.selection:  # drawn last, on top
            cx, cy = px(*self.xy[p])
            circles.append(f'<circle class="sl-highlight" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius + 2.5}" '
                           f'fill="{colors[p]}" stroke="#111" stroke-width="1.5">'
                           f"<title>{html.escape(self._hover(p))}</title></circle>")
        if self.query_point is not None:
            qx, qy = px(*self.query_point)
            circles.append(f'<text class="sl-query" x="{qx:.1f}" y="{qy:.1f}" font-size="20" '
                           'text-anchor="middle" dominant-baseline="central" fill="#111">'
                           f'<title>{html.escape(self.search.value)}</title>'
                           "&#9733;</text>")
        return (f'<svg class="sl-explorer-svg" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                f'viewBox="0 0 {w} {h}" style="background:#fcfcfc;border:1px solid #ddd">'
                f'{"".join(circles)}</svg>')

    def _legend(self) -> str:
        groups = self._groups()[: len(PALETTE) * 2]
        if not groups:
            return ""
        names = getattr(self.space, "cluster_names_", {}) or {}
        items = "".join(
            f'<span style="margin-right:10px"><span style="color:{PALETTE[i % len(PALETTE)]}">&#9679;</span> '
            f"{html.escape(str(g))}{(': ' + html.escape(str(names[g]))) if g in names else ''}</span>"
            for i, g in enumerate(groups))
        return f'<div style="font-size:12px">{items}</div>'

    def _redraw(self) -> None:
        self.plot.value = self.svg() + self._legend()
        n = len(self.selection)
        if not n:
            self.info.value = (f"<span style='color:#666'>{len(self.xy):,} points"
                               f"{'' if len(self._drawn) == len(self.xy) else f', {len(self._drawn):,} drawn'}"
                               "; search, pick groups or a box to select</span>")
            return
        preview = self.selected.head(10)
        self.info.value = (f"<b>{n:,} selected</b> <span style='color:#666'>(explorer.selected)</span>"
                           + render.frame_html(preview, css_class="sl-explorer-table", max_cols=8,
                                               float_format=lambda v: f"{v:.3f}"))

    def __repr__(self) -> str:
        return f"EmbeddingExplorer({self.space!r}, selected={len(self.selection)})"

    def _static_html(self) -> str:
        return self.plot.value + self.info.value


def _bounds(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return 0.0, 1.0
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi
