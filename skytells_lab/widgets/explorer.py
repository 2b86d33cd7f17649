"""EmbeddingExplorer: the map of an EmbeddingSpace (what `space.explore()` returns).

Every point is drawn, by jupyter-scatter (an anywidget front end over regl-scatterplot, WebGL): the
coordinates and colours travel to the browser once, as one binary float32 buffer, and pan, zoom, lasso,
hover and the legend run there. This module adds what only the space knows: the exact search (a text
is embedded with the space's client, its neighbours light up and the rest stay visible, greyed), the
neighbours of a clicked point, cluster names on the map and in the legend, and the link back to the
data (`explorer.selected`, a DataFrame trait; `explorer.select(rows)` from Python). Where no WebGL runs
(an nbconvert export, the docs) the output is a PNG of every point (see raster.py).

jupyter-scatter was chosen over drawing points here: it is kept up, tested to millions of points, and
its selection, view syncing and tooltips are what the map needs; the earlier SVG drew at most 2,000.
"""

from __future__ import annotations

import base64
import html
import threading
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from skytells_lab.widgets import map_bundle, raster, render
from skytells_lab.widgets.static import StaticFallback

# matplotlib's tab20 reordered (dark shades first), so the map's colours match space.plot()'s tab10
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5"]
RAMP = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
        "#fde725"]  # viridis, for numeric colour columns
MAX_GROUPS = 200  # a column with more distinct values than this colours as numbers or not at all
MAX_LABELS = 60  # group names drawn on the map (at the groups' centres) up to this many groups
TOOLTIP_COLUMNS = 6


def _positions(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).ravel()


class EmbeddingExplorer(StaticFallback, widgets.VBox):
    """Every point of a space on a WebGL map: pan, zoom, lasso; search, click, select; take the rows.

    Parameters
    ----------
    space : an EmbeddingSpace; projected with PCA first when it has no `x`/`y` columns.
    hue : the column to colour by (default: the cluster column when there is one); any column of
        `space.data` (or of `extra`) with up to 200 groups, or numbers. Changeable in the map's
        "colour" menu and with `colour_by(column)`.
    text : the column shown as the hover preview (default: the space's text column).
    k : neighbours per search and per clicked point.
    extra : more columns to show, colour by and hover, as {name: array of n values}; they are not
        written into `space.data` (compare_spaces(...).explore() colours by neighbourhood movement so).
    height : of the map in pixels. x, y : the coordinate columns.

    `explorer.selection` (positions 0..n-1, a numpy array) and `explorer.selected` (those rows of
    `space.data`, caller's index kept, with `score` after a search) are traits: `observe` them.
    """

    selection = traitlets.Any(help="positions (0..n-1) of the selected rows, an int64 array")
    selected = traitlets.Instance(pd.DataFrame, help="the selected rows of space.data (+ score)")

    def __init__(self, space: Any, *, hue: str | None = None, text: str | None = None, k: int = 10,
                 extra: Mapping[str, Any] | None = None, height: int = 480, x: str = "x", y: str = "y",
                 **kwargs: Any):
        import jscatter

        if k < 1 or int(k) != k:
            raise ValueError(f"k must be a positive whole number of neighbours, got {k!r}")
        if not space.data.index.is_unique:
            raise ValueError("the space's data index has duplicate labels; give it a unique index "
                             "(space.data.reset_index(drop=True)) to explore it")
        if x not in space.data.columns or y not in space.data.columns:
            space.project()
        self.space = space
        self.x_column, self.y_column = x, y
        n = len(space)
        # ours, positions as index (what jupyter-scatter and its labels expect): named groups and `extra` go
        # here, not into space.data
        self._frame = space.data.set_axis(pd.RangeIndex(n), axis=0)
        for name, values in (extra or {}).items():
            values = np.asarray(values)
            if len(values) != n:
                raise ValueError(f"extra column {name!r} has {len(values)} values for {n} points")
            self._frame[name] = values
        cluster = getattr(space, "cluster_column", "cluster")
        if hue is None:
            hue = cluster if cluster in self._frame.columns else None
        if hue is not None and hue not in self._frame.columns:
            raise ValueError(f"hue={hue!r} is not a column; pick one of {list(map(str, self._frame.columns))}")
        text_column = text or getattr(space, "text_column", "text")
        self.text = text_column if text_column in self._frame.columns else None
        self.scores: dict[int, float] = {}  # position -> cosine of the last search's or click's hits
        self._pushed: np.ndarray | None = None  # the selection this side last sent to the map
        self._thread: threading.Thread | None = None
        self._colourable = self._colour_columns()
        self._original: dict[str, pd.Series] = {}  # a colour column's own values, before naming its groups

        self.search = widgets.Text(placeholder="search: a text; its neighbours light up", continuous_update=False,
                                   layout=widgets.Layout(width="320px"))
        self.search.add_class("sl-explorer-search")
        self.k = widgets.BoundedIntText(value=int(k), min=1, max=max(int(k), min(1000, n)), description="k",
                                        style={"description_width": "1.2em"},
                                        layout=widgets.Layout(width="110px"))
        self.k.add_class("sl-explorer-k")
        self.search_button = widgets.Button(description="Search", icon="search")
        self.search_button.add_class("sl-explorer-search-button")
        self.clear_button = widgets.Button(description="Clear", icon="times")
        self.clear_button.add_class("sl-explorer-clear")
        self.colour = widgets.Dropdown(options=[("(none)", None), *((str(c), c) for c in self._colourable)],
                                       value=None, description="colour",
                                       style={"description_width": "3.5em"}, layout=widgets.Layout(width="220px"))
        self.colour.add_class("sl-explorer-colour")
        self.info = widgets.HTML()
        self.info.add_class("sl-explorer-info")
        controls = widgets.HBox([self.search, self.k, self.search_button, self.clear_button, self.colour])
        self.scatter = jscatter.Scatter(
            data=self._frame, x=x, y=y, height=height, axes=False, legend=True, legend_size="small",
            opacity_unselected=0.25, size="auto", lasso_initiator=False,
            tooltip=True, tooltip_preview=self.text, tooltip_properties=self._tooltip_columns(hue),
        )
        self.hue = None
        self.colour_by(hue)  # before the widget exists: the points then go to the browser once, coloured
        self.map = _shared_bundle_widget(self.scatter)
        self.map.add_class("sl-explorer-map")
        self.map.observe(self._map_selection_changed, names="selection")

        super().__init__(children=[controls, self.map, self.info], **kwargs)
        self.add_class("sl-explorer")

        self.colour.observe(lambda change: self.colour_by(change["new"]), names="value")
        self.search.observe(lambda _change: self._search_in_background(), names="value")
        self.search_button.on_click(lambda _button: self._search_in_background())
        self.clear_button.on_click(lambda _button: self.clear())
        self._apply(np.empty(0, np.int64), {})

    # ------------------------------------------------------------------ selecting
    def select(self, rows=None, *, positions=None) -> EmbeddingExplorer:
        """Select rows from Python and show them on the map: `rows` are index labels of `space.data`
        (a list, an Index, or a DataFrame/Series whose index is used) or a boolean mask of n values;
        `positions` are row positions 0..n-1. `select(None)` clears. Returns the explorer."""
        if positions is not None:
            chosen = _positions(positions)
            if chosen.size and (chosen.min() < 0 or chosen.max() >= len(self.space)):
                raise ValueError(f"positions must lie in 0..{len(self.space) - 1}")
        elif rows is None:
            chosen = np.empty(0, np.int64)
        else:
            if isinstance(rows, (pd.DataFrame, pd.Series)) and not (isinstance(rows, pd.Series)
                                                                    and rows.dtype == bool):
                rows = rows.index
            mask = np.asarray(rows)
            if mask.dtype == bool:
                if len(mask) != len(self.space):
                    raise ValueError(f"a boolean mask needs {len(self.space)} values, got {len(mask)}")
                chosen = np.flatnonzero(mask)
            else:
                chosen = self.space.data.index.get_indexer(pd.Index(rows))
                if (chosen < 0).any():
                    missing = pd.Index(rows)[chosen < 0][:5].tolist()
                    raise KeyError(f"not in space.data's index: {missing}; pass labels, or positions=")
        self._apply(chosen, {})
        return self

    def search_for(self, query: str, k: int | None = None):
        """Select the `k` exact nearest neighbours of `query` (space.search; the text is embedded with the
        space's client) and light them up on the map; returns the hits frame."""
        k = int(k or self.k.value)
        hits = self.space.search(query, k=k)
        positions = self.space.data.index.get_indexer(hits.index)
        self._apply(positions, dict(zip(positions.tolist(), hits["score"].astype(float))))
        return hits

    def neighbours_of(self, position: int, k: int | None = None) -> None:
        """Select the point at `position` and its `k` exact nearest neighbours (what a click on it does)."""
        k = int(k or self.k.value)
        graph = self.space.neighbors(k, rows=[int(position)], progress=False)
        positions = np.concatenate([[int(position)], np.asarray(graph.indices[0], np.int64)])
        scores = np.concatenate([[1.0], np.asarray(graph.scores[0], np.float64)])
        self._apply(positions, dict(zip(positions.tolist(), scores.tolist())))

    def clear(self) -> None:
        self.search.value = ""
        self._apply(np.empty(0, np.int64), {})

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background search has finished (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def colour_by(self, column: str | None) -> None:
        """Colour the points by `column` (groups get a legend and their names on the map; numbers a ramp)."""
        if column is not None and column not in self._colourable:
            raise ValueError(f"cannot colour by {column!r}; pick one of {self._colourable}")
        self.hue = column
        if self.colour.value != column:
            self.colour.value = column
        self.scatter.label(by=None)  # labels keep the last colouring's names: drop them first
        if column is None:
            self.scatter.color(by=None, default=PALETTE[0])
            return
        from jscatter.label_placement.constants import DEFAULT_ZOOM_RANGE

        values = self._original.setdefault(column, self._frame[column])
        if self._is_groups(values):
            levels = self._levels(column, values)
            # codes, then names: a million rows in milliseconds (Series.map of names took half a second)
            codes = pd.Categorical(values, categories=list(levels)).codes
            self._frame[column] = pd.Categorical.from_codes(codes, categories=list(levels.values()))
            self.scatter.color(by=column, map=dict(zip(levels.values(), _cycle(PALETTE, len(levels)))))
            self.scatter.label(by=column if len(levels) <= MAX_LABELS else None, color="auto", font="regular", size=13,
                             zoom_range=DEFAULT_ZOOM_RANGE)
        else:
            self.scatter.color(by=column, map=RAMP)
        self.scatter.tooltip(properties=self._tooltip_columns(column))

    # ------------------------------------------------------------------ state
    def _apply(self, positions: np.ndarray, scores: dict[int, float]) -> None:
        """The one place a selection is set: our traits, then the map (unless it came from the map)."""
        positions = _positions(positions)
        self.scores = scores
        self.selection = positions
        rows = self.space.data.iloc[positions]
        if scores:
            rows = rows.assign(score=[scores.get(p, np.nan) for p in positions.tolist()])
            rows = rows[["score", *[c for c in rows.columns if c != "score"]]]
        self.selected = rows
        current = self.map.selection
        if current is None or not np.array_equal(np.asarray(current, np.int64), positions):
            self._pushed = positions
            self.map.selection = positions.astype(np.uint32)
        self._show_info()

    def _map_selection_changed(self, change) -> None:
        new = change["new"]
        positions = np.empty(0, np.int64) if new is None else np.asarray(new, np.int64)
        if self._pushed is not None and np.array_equal(positions, self._pushed):
            return  # our own selection coming back
        self._pushed = None
        if np.array_equal(positions, self.selection):
            return
        if len(positions) == 1:  # a click on a point: show its neighbours
            try:
                self.neighbours_of(int(positions[0]))
                return
            except Exception as exc:  # noqa: BLE001 - a card in the widget, not a traceback in the log
                self.info.value = render.error_card(exc, title="Neighbours failed")
        self._apply(positions, {})

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

    # ------------------------------------------------------------------ columns
    def _is_groups(self, values: pd.Series) -> bool:
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == bool:
            return True
        if values.dtype.kind in "iu":
            return values.nunique() <= MAX_GROUPS
        return values.dtype.kind not in "fc"

    def _colour_columns(self) -> list[str]:
        columns = []
        for name in self._frame.columns:
            if name in (self.x_column, self.y_column, "z", self.text):
                continue
            values = self._frame[name]
            if values.dtype.kind in "fc" or values.dtype == bool:
                columns.append(name)
            elif isinstance(values.dtype, pd.CategoricalDtype) or values.dtype.kind in "iuOSU" or \
                    pd.api.types.is_string_dtype(values.dtype):
                sample = values.iloc[:: max(1, len(values) // 20_000)]
                try:
                    if sample.nunique() <= MAX_GROUPS and values.nunique() <= MAX_GROUPS:
                        columns.append(name)
                    elif values.dtype.kind in "iu":
                        columns.append(name)  # many integers: a ramp
                except TypeError:  # unhashable cells (lists, vectors): not a colour
                    pass
        return columns

    def _levels(self, column: str, original: pd.Series) -> dict:
        """{value: legend name} of a group column, sorted; cluster names added to the cluster column."""
        if isinstance(original.dtype, pd.CategoricalDtype):
            values = [v for v in original.cat.categories if v in set(original.unique())]
        else:
            values = original.dropna().unique().tolist()
            try:
                values = sorted(values)
            except TypeError:
                values = sorted(values, key=str)
        names = self.space.cluster_names_ if column == self.space.cluster_column else {}
        names = names or {}
        return {v: f"{v} \u00b7 {names[v]}" if v in names else str(v) for v in values}

    def _tooltip_columns(self, hue: str | None) -> list[str]:
        skip = {self.x_column, self.y_column, "z", self.text, hue}
        others = [c for c in self._frame.columns if c not in skip and self._frame[c].dtype.kind in "biufOUS"
                  or (c not in skip and isinstance(self._frame[c].dtype, pd.CategoricalDtype))]
        return (["color"] if hue is not None else []) + [str(c) for c in others[:TOOLTIP_COLUMNS]]

    # ------------------------------------------------------------------ display
    def _show_info(self) -> None:
        n, chosen = len(self.space), len(self.selection)
        if not chosen:
            self.info.value = (f"<span style='color:#666'>{n:,} points, all drawn; lasso, brush or rectangle (the map's "
                               "toolbar), click a point for its neighbours, or search</span>")
            return
        preview = self.selected.head(10)
        self.info.value = (f"<b>{chosen:,} selected</b> <span style='color:#666'>(explorer.selected)</span>"
                           + render.frame_html(preview, css_class="sl-explorer-table", max_cols=8,
                                               float_format=lambda v: f"{v:.3f}"))

    def _palette_codes(self) -> tuple[np.ndarray | None, list[str]]:
        if self.hue is None:
            return None, PALETTE[:1]
        values = self._frame[self.hue]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            return codes, _cycle(PALETTE, max(1, len(values.cat.categories)))
        numbers = np.asarray(values, dtype=np.float64)
        lo, hi = raster.bounds(numbers)
        codes = np.clip(((numbers - lo) / (hi - lo) * len(RAMP)).astype(np.int64), 0, len(RAMP) - 1)
        return np.where(np.isfinite(numbers), codes, -1), RAMP

    def image(self, width: int = 640, height: int = 420) -> np.ndarray:
        """The map as an (h, w, 3) image of every point, the selection dark on top (what exports show)."""
        codes, palette = self._palette_codes()
        return raster.density_image(self._frame[self.x_column].to_numpy(), self._frame[self.y_column].to_numpy(),
                                    colors=codes, palette=palette, highlight=self.selection, width=width,
                                    height=height, faded=len(self.selection) > 0)

    def _static_html(self) -> str:
        # the PNG only here, not also as the bundle's image/png: it travels with every display and is saved
        # in the notebook, and every export that shows pictures shows this HTML
        png = base64.b64encode(raster.png_bytes(self.image())).decode("ascii")
        legend = ""
        if self.hue is not None and isinstance(self._frame[self.hue].dtype, pd.CategoricalDtype):
            levels = list(self._frame[self.hue].cat.categories)[:40]
            legend = "".join(f'<span style="margin-right:10px"><span style="color:{color}">&#9679;</span> '
                             f"{html.escape(str(level))}</span>"
                             for level, color in zip(levels, _cycle(PALETTE, len(levels))))
            legend = f'<div class="sl-explorer-legend" style="font-size:12px">{legend}</div>'
        return (f'<img class="sl-explorer-png" alt="map of {len(self.space):,} points" '
                f'src="data:image/png;base64,{png}" style="max-width:100%">{legend}{self.info.value}')

    def __repr__(self) -> str:
        return f"EmbeddingExplorer({self.space!r}, selected={len(self.selection):,})"


def _shared_bundle_widget(scatter: Any):
    """`scatter.widget`, made as a JupyterScatter whose `_esm` is map_bundle's loader (the 2 MiB bundle
    then reaches a page once, not with every map; anywidget reads `_esm` from the class, so the class is
    swapped for the one call that makes the widget)."""
    from jscatter import jscatter as module

    global _SharedBundleScatter
    original = module.JupyterScatter
    if _SharedBundleScatter is None:
        def _handle_custom_msg(self, content, buffers):
            if not map_bundle.answer_bundle_request(self, content):
                original._handle_custom_msg(self, content, buffers)  # hover: the row under the mouse

        _SharedBundleScatter = type("JupyterScatter", (original,), {
            "_esm": map_bundle.loader_esm(), "_handle_custom_msg": _handle_custom_msg, "__module__": __name__})
    module.JupyterScatter = _SharedBundleScatter
    try:
        widget = scatter.widget
    finally:
        module.JupyterScatter = original
    return widget


_SharedBundleScatter = None


def _cycle(colors: list[str], n: int) -> list[str]:
    return [colors[i % len(colors)] for i in range(n)]
