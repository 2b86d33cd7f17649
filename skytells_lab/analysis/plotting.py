"""Static scatter plots of a projected space, seaborn-style: data=, x=, y=, hue=, ax=; returns the Figure."""

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
    writes the levels themselves. A numeric float hue gets a colorbar. Never calls show().
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
            for level in levels:
                mask = np.asarray(values == level)
                noise = isinstance(level, (int, np.integer)) and level == -1
                color = NOISE_COLOR if noise else cmap(color_index % cmap.N)
                color_index += not noise
                name = names.get(level)
                ax.scatter(px[mask], py[mask], s=size, alpha=alpha, color=color, linewidths=0,
                           rasterized=rasterized, label=f"{level}: {name}" if name else str(level))
                if (name or labels is True) and not noise and mask.any():
                    ax.annotate(name or str(level), (np.median(px[mask]), np.median(py[mask])),
                                ha="center", va="center", fontsize=9, weight="bold",
                                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0})
            if legend:
                ax.legend(title=hue, markerscale=max(1.0, 30 / size) ** 0.5, fontsize=8, loc="best",
                          frameon=False)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    return fig
