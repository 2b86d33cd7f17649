"""CompareView: browse a Comparison (from `sl.compare`) input by input, model beside model."""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets

from skytells_lab.widgets import render
from skytells_lab.widgets.static import StaticFallback

_SORTABLE = ["model", "latency", "predict_time", "tokens", "credits", "status"]


class CompareView(StaticFallback, widgets.VBox):
    """Pick an input (and seed), the models to show and a reference for text diffs; switch between the
    side-by-side grid, the tidy table and the per-model summary. `view.frame` is what the table shows.

    >>> view = CompareView(sl.compare(["digits-diffusion", "smollm2-135m-instruct"], ["3", "a 7"]))
    """

    def __init__(self, comparison: Any, *, image_size: int = 128, **kwargs: Any):
        self.comparison = comparison
        self.image_size = image_size
        self._frame = comparison.frame()
        labels = [t.label for t in comparison.targets]
        items = list(dict.fromkeys(self._frame["item"].tolist()))
        self.item = widgets.Dropdown(options=[(_clip(self._input_of(i)), i) for i in items], description="input")
        self.item.add_class("sl-compare-item")
        seeds = [s for s in comparison.seeds if s is not None]
        self.seed = widgets.Dropdown(options=seeds or [None], description="seed",
                                     layout=widgets.Layout(display=None if len(seeds) > 1 else "none"))
        self.models = widgets.SelectMultiple(options=labels, value=tuple(labels), rows=min(4, len(labels)),
                                             description="models")
        self.models.add_class("sl-compare-models")
        texts = [t.label for t in comparison.targets if t.modality == "chat"]
        self.reference = widgets.Dropdown(options=texts or [None], description="diff vs",
                                          layout=widgets.Layout(display=None if len(texts) > 1 else "none"))
        self.mode = widgets.ToggleButtons(options=["grid", "table", "summary"], value="grid",
                                          style={"button_width": "auto"})
        self.mode.add_class("sl-compare-mode")
        self.sort = widgets.Dropdown(options=_SORTABLE, value="model", description="sort by")
        self.content = widgets.HTML()
        self.content.add_class("sl-compare-content")
        controls = widgets.VBox([widgets.HBox([self.item, self.seed, self.reference]),
                                 widgets.HBox([self.models, widgets.VBox([self.mode, self.sort])])])
        super().__init__(children=[controls, self.content], **kwargs)
        self.add_class("sl-compare")
        for control in (self.item, self.seed, self.models, self.reference, self.mode, self.sort):
            control.observe(self._refresh, names="value")
        self._refresh()

    @property
    def frame(self):
        """The comparison's rows for the chosen models (and, in grid mode, input and seed), sorted."""
        df = self._frame[self._frame["model"].isin(self.models.value)]
        if self.mode.value == "grid":
            df = df[df["item"] == self.item.value]
            if self.seed.value is not None and df["seed"].notna().any():
                df = df[df["seed"].isna() | (df["seed"] == self.seed.value)]
        return df.sort_values(self.sort.value, kind="stable", na_position="last")

    def _input_of(self, item: Any) -> str:
        return str(self._frame.loc[self._frame["item"] == item, "input"].iloc[0])

    def _refresh(self, _change=None) -> None:
        try:
            self.content.value = {"grid": self._grid_html, "table": self._table_html,
                                  "summary": self._summary_html}[self.mode.value]()
        except Exception as exc:  # noqa: BLE001 - show it in the widget, never as a traceback from a callback
            self.content.value = render.error_card(exc, title="Could not show this view")

    def _grid_html(self) -> str:
        rows = {r["model"]: r for r in self.frame.to_dict("records")}
        cells = []
        for label in self.models.value:
            row = rows.get(label)
            if row is None:
                continue
            cells.append(f'<td style="vertical-align:top;padding:6px;border:1px solid #eee">'
                         f'<div><b>{html.escape(label)}</b> '
                         f'<span style="color:#888">{row["modality"]}</span></div>'
                         f"{self._cell_html(label, row)}{_facts(row)}</td>")
        header = (f'<div style="margin:4px 0"><b>input</b>: {html.escape(self._input_of(self.item.value))}</div>')
        return f'{header}<table class="sl-compare-grid"><tr>{"".join(cells)}</tr></table>'

    def _cell_html(self, label: str, row: dict) -> str:
        if row["status"] != "succeeded":
            return render.error_card(RuntimeError(row["error"] or row["status"]), title=row["status"])
        if row["modality"] in ("image", "prediction"):
            images = self.comparison.image(label, self.item.value, self.seed.value)
            if images:
                return render.gallery_html(images, size=self.image_size)
        if row["modality"] == "chat":
            return self._text_html(label, str(row["output"] or ""))
        if row["modality"] == "embeddings":
            vector = row["output"]
            size = len(vector) if hasattr(vector, "__len__") else "?"
            return f"<div>{size}-d vector</div>"
        return render.text_html(str(row["output"]))

    def _text_html(self, label: str, text: str) -> str:
        reference = self.reference.value
        if reference in (None, label) or reference not in self.models.value:
            return render.text_html(text)
        ref_rows = self.frame[self.frame["model"] == reference]
        if ref_rows.empty or ref_rows["status"].iloc[0] != "succeeded":
            return render.text_html(text)
        from skytells_lab.comparison.metrics import diff_html

        diff = diff_html(str(ref_rows["output"].iloc[0]), text)
        return f'<div class="sl-output-text" style="white-space:pre-wrap">{diff}</div>'

    def _table_html(self) -> str:
        df = self.frame.drop(columns=["output"]).copy()
        return render.frame_html(df, css_class="sl-compare-table", max_rows=50, float_format=lambda v: f"{v:.4g}")

    def _summary_html(self) -> str:
        summary = self.comparison.summary()
        summary = summary[summary.index.isin(self.models.value)]
        return render.frame_html(summary, css_class="sl-compare-summary", float_format=lambda v: f"{v:.4g}")

    def __repr__(self) -> str:
        return f"CompareView({self.comparison!r})"

    def _static_html(self) -> str:
        repr_html = getattr(self.comparison, "_repr_html_", None)
        return repr_html() if callable(repr_html) else self.content.value


def _clip(text: str, limit: int = 50) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _facts(row: dict) -> str:
    facts = {}
    for key, unit in (("latency", " s"), ("tokens", ""), ("credits", "")):
        value = row.get(key)
        if value is not None and not math.isnan(value):
            facts[key] = f"{value:.4g}{unit}"
    return render.table_html(facts) if facts else ""
