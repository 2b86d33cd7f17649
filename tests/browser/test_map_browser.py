"""The embedding map in a real JupyterLab: WebGL in Chromium (SwiftShader), selections made with the mouse.

The steps (lasso, rectangle, hover, wheel zoom, save) are in map_flow.py. They run on the 1,000,000 points
the issue asks for: 68 s on this 2-core machine at load 2.5 (111 s at load 11), under the 90 s this test
may take in CI; SKYTELLS_MAP_TEST_POINTS=200000 runs it in 35 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_support import CHROMIUM

MAP_POINTS = int(os.environ.get("SKYTELLS_MAP_TEST_POINTS", "1000000"))

pytest.importorskip("playwright.sync_api")
pytest.importorskip("jscatter")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"),
    pytest.mark.timeout(600),
]


def test_mouse_selections_on_the_map_select_exactly_the_rows_inside_them(tmp_path):
    from map_flow import drive_map

    timings, results = drive_map(tmp_path / "lab", MAP_POINTS)
    print("map browser test timings (s):", timings, results)
    lasso, rectangle = results["lasso"], results["rectangle"]
    assert lasso["n"] == MAP_POINTS
    assert lasso["same_as_lasso"], lasso  # the rows inside the polygon the browser drew, none more, none less
    assert lasso["same_as_shape"], lasso  # and the polygon is the one the mouse traced
    assert rectangle["same_as_lasso"] and rectangle["same_as_shape"], rectangle  # the rectangle lasso type
    assert results["hover"]["hovering"] == [3]  # the lone point under the mouse, seen by the kernel
    assert results["zoom"]["moved_px"] > 20  # the wheel zoomed the view
    assert results["saved"]["anywidget_models"] >= 1  # the map reopens as a map
