"""The embedding map driven in a real JupyterLab + Chromium (software WebGL), at 1,000,000 points in
test_map_browser.py.

A space of n points (uniform in the unit square) with empty bands around a pentagon and a small square, and
one point alone in an empty disc, is shown with `EmbeddingExplorer`. The page:

1. waits for the map's points to be drawn;
2. picks the lasso tool in the map's toolbar and drags the pentagon with the mouse (screen positions from the
   map's own projection of three corner points); a kernel cell checks that `explorer.selected` holds exactly
   the rows inside the lasso the browser reports (`map.lasso_selection_polygon`, tested in Python against
   every point) and exactly the rows inside the pentagon (the band keeps the mouse's path off any point);
3. picks the rectangle lasso type in the toolbar and drags the square: the same check (jupyter-scatter
   1.0.1's key map has no Shift-to-lasso: Shift+drag in pan & zoom mode selects nothing);
4. hovers the lone point: its text shows in the tooltip and the kernel sees `map.hovering` = its row;
5. zooms with the wheel: the view moves (screenshots before and after under artifacts/);
6. saves: the notebook keeps the widget state (the map reopens as a map).
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

from lab_support import (
    ARTIFACTS,
    CHROMIUM,
    WEBGL_ARGS,
    Phases,
    open_notebook,
    run_all_cells,
    run_cell,
    running_lab,
)

SETUP = """\
import json
import numpy as np
import pandas as pd
from matplotlib.path import Path as Polygon
from skytells_lab.analysis import EmbeddingSpace
from skytells_lab.widgets import EmbeddingExplorer

N = {n}
angles = np.pi / 2 + np.arange(5) * 2 * np.pi / 5
PENTAGON = np.c_[0.5 + 0.32 * np.cos(angles), 0.5 + 0.32 * np.sin(angles)]
SQUARE = np.array([(0.03, 0.03), (0.17, 0.03), (0.17, 0.17), (0.03, 0.17)])
LONE = (0.9, 0.1)

def distance_to_edges(points, polygon):
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ab = b - a
    t = np.clip(((points[:, None, :] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    return np.linalg.norm(points[:, None, :] - (a + t[..., None] * ab), axis=-1).min(axis=1)

rng = np.random.default_rng(0)
xy = rng.uniform(0, 1, size=(int(N * 1.3), 2))
keep = ((distance_to_edges(xy, PENTAGON) > 0.025) & (distance_to_edges(xy, SQUARE) > 0.015)
        & (np.hypot(xy[:, 0] - LONE[0], xy[:, 1] - LONE[1]) > 0.04))  # empty bands, and a disc round LONE
xy = xy[keep][:N]
xy[:4] = [(0, 0), (1, 0), (0, 1), LONE]  # corners: the map's projection of these places the mouse
data = pd.DataFrame({{"x": xy[:, 0], "y": xy[:, 1], "group": rng.integers(0, 12, len(xy)),
                     "text": "a point"}}, index=pd.RangeIndex(len(xy)).map(lambda i: f"row{{i}}"))
data.loc["row3", "text"] = "the lone point"
space = EmbeddingSpace(xy.astype(np.float32), data)

def check(shape):
    polygon = explorer.map.lasso_selection_polygon
    polygon = None if polygon is None else np.asarray(polygon, dtype=float).reshape(-1, 2)
    in_lasso = [] if polygon is None else np.flatnonzero(Polygon(polygon).contains_points(xy))  # data coordinates
    in_shape = np.flatnonzero(Polygon(shape).contains_points(xy))
    picked = np.sort(space.data.index.get_indexer(explorer.selected.index))
    print("RESULT " + json.dumps({{"n": len(space), "selected": len(picked), "in_lasso": len(in_lasso),
                                  "in_shape": len(in_shape), "same_as_lasso": bool(np.array_equal(picked, in_lasso)),
                                  "same_as_shape": bool(np.array_equal(picked, in_shape))}}))
"""
SHOW = """\
explorer = EmbeddingExplorer(space, hue='group', k=10)
hovered = []  # the rows the mouse went over (moving to a cell's prompt sets map.hovering back to None)
explorer.map.observe(lambda change: hovered.append(change["new"]), names="hovering")
explorer"""
CHECK_LASSO = "check(PENTAGON)"
CHECK_RECTANGLE = "check(SQUARE)"
CHECK_HOVER = 'print("RESULT " + json.dumps({"hovering": [h for h in hovered if h is not None][-1:]}))'
CELLS = [SETUP, SHOW, CHECK_LASSO, CHECK_RECTANGLE, CHECK_HOVER]

# the map's own projection of a point (regl-scatterplot's getScreenPosition), in page pixels
SCREEN_POSITIONS = """(rows) => {
  const holder = [...document.querySelectorAll('.sl-explorer-map div')].find(d => d.api);
  const box = holder.querySelector('canvas').getBoundingClientRect();
  return rows.map(i => { const [x, y] = holder.api.getScreenPosition(i); return [box.left + x, box.top + y]; });
}"""
MOVED = """([row, x0, y0]) => {
  const holder = [...document.querySelectorAll('.sl-explorer-map div')].find(d => d.api);
  const box = holder.querySelector('canvas').getBoundingClientRect();
  const [x, y] = holder.api.getScreenPosition(row);
  return Math.hypot(box.left + x - x0, box.top + y - y0) > 20;
}"""
DRAWN = """() => { const holder = [...document.querySelectorAll('.sl-explorer-map div')].find(d => d.api);
  try { holder.api.getScreenPosition(0); return true; } catch (e) { return false; } }"""


def drive_map(run: Path, n: int, *, prefix: str = "map-browser") -> tuple[dict, dict]:
    """Run the steps of the module docstring on a space of `n` points; (phase timings in s, results)."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    results: dict[str, dict] = {}
    clock = Phases()
    mark, timings, started = clock.mark, clock.timings, clock.started

    cells = [SETUP.format(n=n), *CELLS[1:]]
    with running_lab(run, cells, "map.ipynb") as (base, token, notebook), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1200})

        def kernel_result(index: int, pattern: str = r"RESULT \{") -> dict:
            run_cell(page, index)
            output = page.locator(".jp-Cell").nth(index).locator(".jp-OutputArea-output")
            expect(output).to_contain_text(re.compile(pattern), timeout=120_000)
            return json.loads(output.inner_text().split("RESULT ", 1)[1].strip())

        try:
            open_notebook(page, base, token, notebook, "hovering")
            mark("page_load_kernel_ready")
            run_all_cells(page)
            explorer = page.locator(".jp-OutputArea-output .sl-explorer")
            canvas = explorer.locator(".sl-explorer-map canvas").first
            expect(canvas).to_be_visible(timeout=300_000)
            expect(page.locator(".jp-Cell").nth(4).locator(".jp-OutputArea-output")).to_contain_text(
                "RESULT", timeout=300_000)  # every cell has run
            page.wait_for_function(DRAWN, timeout=300_000)  # the points are drawn (the map's own flag)
            mark("cells_run_map_drawn")
            expect(explorer.locator(".sl-explorer-k input")).to_have_value("10")  # the k box shows the real k
            expect(explorer.locator(".sl-explorer-info")).to_contain_text(f"{n:,} points, all drawn")
            page.screenshot(path=str(ARTIFACTS / f"{prefix}-before-zoom.png"), full_page=True)

            corners: list = []

            def project() -> None:
                """Page pixels of data coordinates: the map's affine projection, from three corner points
                (again after each cell run: running a cell scrolls the notebook)."""
                canvas.scroll_into_view_if_needed()
                corners[:] = page.evaluate(SCREEN_POSITIONS, [0, 1, 2])

            def screen(u: float, v: float) -> tuple[float, float]:
                (x0, y0), (x1, y1), (x2, y2) = corners
                return x0 + u * (x1 - x0) + v * (x2 - x0), y0 + u * (y1 - y0) + v * (y2 - y0)

            project()

            angles = [math.pi / 2 + i * 2 * math.pi / 5 for i in range(5)]
            path = [screen(0.5 + 0.32 * math.cos(a), 0.5 + 0.32 * math.sin(a)) for a in angles]
            explorer.get_by_title("Activate lasso selection").click()
            page.mouse.move(*path[0])
            page.mouse.down()
            for (ax, ay), (bx, by) in zip(path, path[1:] + path[:1]):
                for step in range(1, 4):
                    page.mouse.move(ax + (bx - ax) * step / 3, ay + (by - ay) * step / 3)
                    page.wait_for_timeout(12)  # the lasso keeps one mouse point per 10 ms (lasso_min_delay)
            page.mouse.up()
            expect(explorer.locator(".sl-explorer-info")).to_contain_text("selected", timeout=120_000)
            mark("lasso")
            results["lasso"] = kernel_result(2, r'RESULT .*"selected": [1-9]')
            mark("lasso_kernel_check")

            # a rectangle: the toolbar's lasso type menu (jupyter-scatter's key map has no Shift-to-lasso)
            explorer.get_by_title("Lasso Type").click()
            explorer.get_by_title("Rectangle").click()
            explorer.get_by_title("Activate lasso selection").click()  # the menu left the mode; pick it again
            info_before = explorer.locator(".sl-explorer-info").inner_text()
            project()
            page.mouse.move(*screen(0.03, 0.03))
            page.mouse.down()
            for step in range(1, 21):
                page.mouse.move(*screen(0.03 + 0.14 * step / 20, 0.03 + 0.14 * step / 20))
                page.wait_for_timeout(40)
            page.mouse.up()
            expect(explorer.locator(".sl-explorer-info")).not_to_have_text(info_before, timeout=120_000)
            mark("rectangle")
            results["rectangle"] = kernel_result(3, r'RESULT .*"selected": [1-9]')
            mark("rectangle_kernel_check")

            explorer.get_by_title("Activate pan & zoom").click()
            project()
            page.mouse.move(*screen(0.5, 0.95))
            page.mouse.move(*page.evaluate(SCREEN_POSITIONS, [3])[0])  # the lone point
            expect(explorer).to_contain_text("the lone point", timeout=60_000)  # its text, in the tooltip
            results["hover"] = kernel_result(4, r'RESULT \{"hovering": \[3\]\}')
            mark("hover")

            project()
            before = page.evaluate(SCREEN_POSITIONS, [1])[0]
            page.mouse.move(*screen(0.5, 0.5))
            page.mouse.wheel(0, -600)
            page.wait_for_function(MOVED, arg=[1, *before], timeout=60_000)
            after = page.evaluate(SCREEN_POSITIONS, [1])[0]
            results["zoom"] = {"moved_px": round(math.dist(after, before), 1)}
            page.screenshot(path=str(ARTIFACTS / f"{prefix}-after-zoom.png"), full_page=True)
            mark("zoom")

            page.keyboard.press("Control+s")  # saved with the widget state (skytells-lab lab's setting)
            saved = _wait_for_saved_state(run / "root" / notebook)
            results["saved"] = {"anywidget_models": sum(m["model_name"] == "AnyModel" for m in saved.values()),
                                "notebook_bytes": (run / "root" / notebook).stat().st_size}
            mark("save")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{prefix}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    timings["total"] = round(time.monotonic() - started, 2)
    (ARTIFACTS / f"{prefix}-timings.json").write_text(json.dumps({"points": n, **timings, "results": results},
                                                                 indent=1))
    return timings, results


def _wait_for_saved_state(path: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            widgets = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("widgets")
        except (ValueError, KeyError):
            widgets = None  # being written
        if widgets:
            return widgets["application/vnd.jupyter.widget-state+json"]["state"]
        time.sleep(0.25)  # the file on disk has no event to wait on
    raise AssertionError(f"{path.name} was not saved with widget state within {timeout} s")
