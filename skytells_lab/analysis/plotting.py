"""Static scatter plots of a projected space, seaborn-style: data=, x=, y=, hue=, ax=; returns the Axes.

Group names are written at the groups' medians and then pushed apart until no two overlap (a thin line
leads back from a moved name to its group). Written here rather than with adjustText: a few dozen names
need a handful of passes, and this one checks the boxes until none overlap instead of stopping after a
fixed number of steps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# Categorical hues with more levels than this are drawn with a colormap and no legend.
MAX_LEGEND = 30
NOISE_COLOR = "#b0b0b0"


def _point_size(n: int) -> float:
    return float(np.clip(4000 / max(n, 1), 1, 40))


def _levels(values) -> list:
    unique = list(values.dropna().unique())
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def plot_space(data, *, x: str = "x", y: str = "y", hue: str | None = None, ax=None,
               labels: Mapping | bool | None = None, palette: str | None = None, s: float | None = None,
               alpha: float = 0.7, legend: bool = True, title: str | None = None):
    """Scatter `data[x]` against `data[y]`, coloured by `data[hue]`.

    A categorical hue (strings, or integers such as cluster labels) draws one group per level, with a
    legend entry each; label -1 (HDBSCAN noise) is grey. `labels` maps a hue level to a name: the
    legend shows "level: name" and the name is written at the group's median point. `labels=True`
    writes the levels themselves; names never overlap each other. A numeric float hue gets a colorbar.
    Returns the Axes (returning the Figure would draw it twice at the end of a cell); never calls show().
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 6))
    else:
        fig = ax.figure
    n = len(data)
    size = _point_size(n) if s is None else s
    px, py = np.asarray(data[x], dtype=float), np.asarray(data[y], dtype=float)
    rasterized = n > 20_000
    if hue is None:
        ax.scatter(px, py, s=size, alpha=alpha, linewidths=0, rasterized=rasterized)
    else:
        values = data[hue]
        numeric = np.issubdtype(np.asarray(values).dtype, np.floating)
        levels = None if numeric else _levels(values)
        if numeric or len(levels) > MAX_LEGEND:
            codes = np.asarray(values, dtype=float) if numeric else values.astype("category").cat.codes
            points = ax.scatter(px, py, c=codes, s=size, alpha=alpha, cmap=palette or "viridis",
                                linewidths=0, rasterized=rasterized)
            if numeric and legend:
                fig.colorbar(points, ax=ax, label=hue)
        else:
            cmap = plt.get_cmap(palette or ("tab10" if len(levels) <= 10 else "tab20"))
            names = labels if isinstance(labels, Mapping) else {}
            color_index = 0
            names_drawn = []
            for level in levels:
                mask = np.asarray(values == level)
                noise = isinstance(level, (int, np.integer)) and level == -1
                color = NOISE_COLOR if noise else cmap(color_index % cmap.N)
                color_index += not noise
                name = names.get(level)
                ax.scatter(px[mask], py[mask], s=size, alpha=alpha, color=color, linewidths=0,
                           rasterized=rasterized, label=f"{level}: {name}" if name else str(level))
                if (name or labels is True) and not noise and mask.any():
                    centre = (np.median(px[mask]), np.median(py[mask]))
                    names_drawn.append(ax.annotate(
                        name or str(level), centre, xytext=centre, ha="center", va="center", fontsize=9,
                        weight="bold", bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8, "lw": 0},
                        arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "#555", "shrinkA": 0, "shrinkB": 0}))
            separate_labels(ax, names_drawn)
            if legend:
                ax.legend(title=hue, markerscale=max(1.0, 30 / size) ** 0.5, fontsize=8, loc="best",
                          frameon=False)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    return ax


def _boxes(texts, renderer) -> np.ndarray:
    from matplotlib.text import Text

    """(n, 4) x0, y0, x1, y1 of each text's box in display pixels, with the pad of its background."""
    boxes = []
    for text in texts:
        pad = 0.2 * text.get_fontsize() * text.figure.dpi / 72  # boxstyle "round,pad=0.2"
        if hasattr(text, "update_positions"):
            text.update_positions(renderer)  # an Annotation places its text in data coordinates only then
        # Text's own extent: an Annotation's would include its leader line
        x0, y0, x1, y1 = Text.get_window_extent(text, renderer).extents
        boxes.append((x0 - pad, y0 - pad, x1 + pad, y1 + pad))
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def overlapping_pairs(texts, renderer=None, gap: float = 0.0) -> list[tuple[int, int]]:
    """Index pairs of texts whose boxes overlap (or come closer than `gap` pixels)."""
    if renderer is None:
        renderer = texts[0].figure.canvas.get_renderer() if texts else None
    boxes = _boxes(texts, renderer)
    pairs = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if min(a[2], b[2]) - max(a[0], b[0]) > -gap and min(a[3], b[3]) - max(a[1], b[1]) > -gap:
                pairs.append((i, j))
    return pairs


def separate_labels(ax, texts, *, gap: float = 2.0, max_passes: int = 500) -> None:
    """Move annotation texts apart, in display pixels, until no two boxes overlap: each overlapping pair
    is pushed apart along the axis where it overlaps least, half each way."""
    if len(texts) < 2:
        return
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    for _ in range(max_passes):
        boxes = _boxes(texts, renderer)
        shift = np.zeros((len(texts), 2))
        for i, j in overlapping_pairs(texts, renderer, gap):
            a, b = boxes[i], boxes[j]
            over_x = min(a[2], b[2]) - max(a[0], b[0]) + gap
            over_y = min(a[3], b[3]) - max(a[1], b[1]) + gap
            centre_a, centre_b = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
            axis = 0 if over_x < over_y else 1
            sign = 1.0 if centre_b[axis] > centre_a[axis] or (centre_b[axis] == centre_a[axis] and j > i) else -1.0
            push = (over_x if axis == 0 else over_y) / 2 + 0.5
            shift[i, axis] -= sign * push
            shift[j, axis] += sign * push
        if not shift.any():
            return
        for text, (dx, dy) in zip(texts, shift):
            if dx or dy:
                x, y = ax.transData.transform(text.xyann)
                text.xyann = tuple(to_data.transform((x + dx, y + dy)))
