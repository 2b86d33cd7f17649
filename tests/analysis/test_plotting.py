"""Plots render with the Agg backend (MPLBACKEND=Agg, set by the conftest files)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from skytells_lab.analysis import EmbeddingSpace, plot_space


def points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections)


def test_plot_space_one_legend_entry_per_level_with_names():
    data = pd.DataFrame({"x": np.arange(9.0), "y": np.arange(9.0), "cluster": [0, 0, 0, 1, 1, 2, 2, 2, -1]})
    fig = plot_space(data=data, hue="cluster", labels={0: "sport", 1: "politics"})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert points(ax) == 9
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["-1", "0: sport", "1: politics", "2"]
    assert {t.get_text() for t in ax.texts} == {"sport", "politics"}
    assert ax.get_xlabel() == "x"
    plt.close(fig)


def test_plot_space_draws_into_a_given_axes_and_handles_float_hue():
    fig, ax = plt.subplots()
    data = pd.DataFrame({"a": [1.0, 2, 3], "b": [3.0, 1, 2], "v": [0.1, 0.5, 0.9]})
    assert plot_space(data=data, x="a", y="b", hue="v", ax=ax) is fig
    assert points(ax) == 3 and len(fig.axes) == 2  # the colorbar
    plt.close(fig)


def test_space_plot_projects_and_uses_cluster_names(blobs):
    vectors, _ = blobs
    space = EmbeddingSpace(vectors).cluster("kmeans", 4)
    space.cluster_names_ = {0: "zero", 1: "one", 2: "two", 3: "three"}
    fig = space.plot()
    ax = fig.axes[0]
    assert points(ax) == 240
    assert len(ax.get_legend().get_texts()) == 4
    assert ax.get_legend().get_title().get_text() == "cluster"
    assert {"x", "y"} <= set(space.data.columns)
    plt.close(fig)
