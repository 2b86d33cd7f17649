"""compare_spaces(a, b).explore(): two linked maps coloured by how much each item's neighbourhood moved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_explorer import browser_sends_selection

import skytells_lab as sl
from skytells_lab.analysis import EmbeddingSpace
from skytells_lab.widgets import SpaceCompareView


@pytest.fixture(scope="module")
def comparison():
    rng = np.random.default_rng(0)
    n = 400
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    moved = vectors.copy()
    moved[:100] = rng.normal(size=(100, 16))  # the first 100 items land somewhere else in the second space
    data = pd.DataFrame({"text": [f"item {i}" for i in range(n)]}, index=[f"i{i}" for i in range(n)])
    a = EmbeddingSpace(vectors, data, model="model-a")
    b = EmbeddingSpace(moved, data, model="model-b")
    return sl.compare_spaces(a, b, k=5)


def test_both_maps_hold_every_item_coloured_by_movement(comparison):
    view = comparison.explore()
    assert isinstance(view, SpaceCompareView)
    assert len(view.left.map.points) == len(view.right.map.points) == 400
    assert view.left.hue == view.right.hue == "moved"
    assert view.moved[:100].mean() > 0.9 and view.moved[100:].mean() < 0.6  # the moved items stand out
    assert np.allclose(view.moved, 1 - comparison.frame["jaccard"].to_numpy())
    assert view.left.map.view_sync and view.left.map.view_sync == view.right.map.view_sync  # linked zoom
    assert "moved" not in comparison.spaces[0].data.columns


def test_selecting_in_one_map_highlights_the_same_items_in_the_other(comparison):
    view = comparison.explore()
    browser_sends_selection(view.left, [1, 2, 3, 150])  # a lasso in the left map
    assert view.right.map.selection.tolist() == [1, 2, 3, 150]
    assert view.selected.index.tolist() == ["i1", "i2", "i3", "i150"]
    assert np.allclose(view.selected["moved"], view.moved[[1, 2, 3, 150]])
    browser_sends_selection(view.right, [7, 8])
    assert view.left.map.selection.tolist() == [7, 8]
    view.right.map.hovering = 9
    assert view.left.map.hovering == 9
    view.select(None)
    assert view.left.map.selection.tolist() == [] and view.right.map.selection.tolist() == []


def test_arrays_compare_and_export_a_picture():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    view = sl.compare_spaces(x, x @ np.linalg.qr(rng.normal(size=(8, 8)))[0], k=5).explore()
    assert np.allclose(view.moved, 0)  # a rotation keeps every neighbourhood
    bundle = view._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/html"].count('<img class="sl-explorer-png"') == 2
