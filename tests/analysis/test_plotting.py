"""Plots render with the Agg backend (MPLBACKEND=Agg, set by the conftest files)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from skytells_lab.analysis import EmbeddingSpace, plot_space
from skytells_lab.analysis.plotting import overlapping_pairs


def points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections)


def test_plot_space_one_legend_entry_per_level_with_names():
    data = pd.DataFrame({"x": np.arange(9.0), "y": np.arange(9.0), "cluster": [0, 0, 0, 1, 1, 2, 2, 2, -1]})
    ax = plot_space(data=data, hue="cluster", labels={0: "sport", 1: "politics"})
    assert isinstance(ax, Axes)  # seaborn-style: a returned Figure would be drawn twice in a notebook
    fig = ax.figure
    assert points(ax) == 9
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["-1", "0: sport", "1: politics", "2"]
    assert {t.get_text() for t in ax.texts} == {"sport", "politics"}
    assert ax.get_xlabel() == "x"
    plt.close(fig)


def test_plot_space_draws_into_a_given_axes_and_handles_float_hue():
    fig, ax = plt.subplots()
    data = pd.DataFrame({"a": [1.0, 2, 3], "b": [3.0, 1, 2], "v": [0.1, 0.5, 0.9]})
    assert plot_space(data=data, x="a", y="b", hue="v", ax=ax) is ax
    assert points(ax) == 3 and len(fig.axes) == 2  # the colorbar
    plt.close(fig)


def test_space_plot_projects_and_uses_cluster_names(blobs):
    vectors, _ = blobs
    space = EmbeddingSpace(vectors).cluster("kmeans", 4)
    space.cluster_names_ = {0: "zero", 1: "one", 2: "two", 3: "three"}
    ax = space.plot()
    fig = ax.figure
    assert points(ax) == 240
    assert len(ax.get_legend().get_texts()) == 4
    assert ax.get_legend().get_title().get_text() == "cluster"
    assert {"x", "y"} <= set(space.data.columns)
    plt.close(fig)


def test_group_names_never_overlap():
    """Tutorial 04 had "US Economy" and "net" written over each other: groups with nearly the same centre."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 100)
    centres = np.array([0, 0.05, 0.1, 3, 3.02, 6])[groups]
    data = pd.DataFrame({"x": centres + rng.normal(scale=0.5, size=600), "y": rng.normal(scale=0.5, size=600),
                         "cluster": groups})
    names = {0: "US Economy", 1: "net", 2: "film awards", 3: "football", 4: "tennis", 5: "elections"}
    for size in ((7, 6), (4, 3)):
        fig, ax = plt.subplots(figsize=size)
        plot_space(data, hue="cluster", labels=names, ax=ax)
        assert len(ax.texts) == 6 and not overlapping_pairs(ax.texts)
        fig.canvas.draw()
        assert not overlapping_pairs(ax.texts)  # still apart once drawn
        plt.close(fig)
