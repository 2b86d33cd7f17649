"""The embedding map in JupyterLab + Chromium (software WebGL): first frame, bytes sent, kernel memory.

For each size, a notebook builds a space of n points (x, y and a 12-group colour column; not timed), then
one cell runs `space.explore()`. Measured:

- first frame: from the kernel's clock just before `explore()` to the moment the map's own renderer
  reports its points drawn in the page (regl-scatterplot's getScreenPosition stops throwing), same
  machine, same clock;
- bytes sent: every websocket frame the page receives from the explore cell's start to that first
  frame, against the point arrays themselves: the `points` buffer the map sends (float32 x, y, colour,
  value: 16 B per point) and x, y alone (8 B per point). The map's JavaScript bundle (anywidget sends
  its ESM once per widget, about 2.2 MB) is part of the bytes;
- kernel memory: the kernel's resident memory added by `explore()` (VmRSS after minus before).

Goals (issue 17): all points drawn; first frame within 10 s at 1,000,000 points in software WebGL on a
2-core machine; bytes sent at most 1.2x the points buffer.

    python benchmarks/bench_map.py                     # 100,000 and 1,000,000 points (about 2 minutes)
    python benchmarks/bench_map.py --sizes 200000 --json out.json
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from _analysis_bench import write_rows
from _report import parser, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from lab_support import ARTIFACTS, CHROMIUM, WEBGL_ARGS, open_notebook, run_cell, running_lab

QUICK_SIZES = [2000]
FIRST_FRAME_GOAL_S = 10.0
BYTES_GOAL = 1.2

SETUP = """\
import re
import time
import numpy as np, pandas as pd
from skytells_lab.analysis import EmbeddingSpace

def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024

rng = np.random.default_rng(0)
N = {n}
groups = rng.integers(0, 12, N)
data = pd.DataFrame({{"x": rng.normal(size=N) + groups % 4 * 3, "y": rng.normal(size=N) + groups // 4 * 3,
                     "group": groups}})
space = EmbeddingSpace(rng.standard_normal((N, 4), dtype=np.float32), data)
print("READY")
"""
EXPLORE = """\
before = rss()
t0 = time.time()
explorer = space.explore(hue="group")
bundle = len(explorer.map._esm.encode()) + len(explorer.map._css.encode())
print(f"T0 {t0!r} RSS {rss() - before} POINTS {len(explorer.map.points)} "
      f"BUFFER {explorer.map.points.astype('float32').nbytes} BUNDLE {bundle}")
explorer"""

DRAWN = """() => { const holder = [...document.querySelectorAll('.sl-explorer-map div')].find(d => d.api);
  if (!holder) return false;
  try { holder.api.getScreenPosition(0); return Date.now() / 1000; } catch (e) { return false; } }"""


def measure(n: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    received = {"bytes": 0, "on": False}

    def on_frame(payload) -> None:
        if received["on"]:
            received["bytes"] += len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))

    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp, \
            running_lab(Path(tmp) / "lab", [SETUP.format(n=n), EXPLORE], "map.ipynb") as (base, token, name), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS)
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            open_notebook(page, base, token, name, "explorer")
            run_cell(page, 0)
            expect(page.locator(".jp-Cell").nth(0).locator(".jp-OutputArea-output")).to_contain_text(
                "READY", timeout=600_000)
            received["on"] = True
            run_cell(page, 1)
            output = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output").first
            try:
                drawn_at = page.wait_for_function(DRAWN, polling=50, timeout=300_000).json_value()
            except Exception as exc:
                page.screenshot(path=str(ARTIFACTS / f"bench-map-{n}-failure.png"))
                raise RuntimeError(f"the map of {n:,} points was not drawn; the cell shows: "
                                   f"{output.inner_text(timeout=5000)[:2000]!r}") from exc
            received["on"] = False
            text = output.inner_text()
        finally:
            browser.close()
    found = re.search(r"T0 ([\d.]+) RSS (-?\d+) POINTS (\d+) BUFFER (\d+) BUNDLE (\d+)", text)
    t0, rss, points, buffer, bundle = float(found[1]), int(found[2]), int(found[3]), int(found[4]), int(found[5])
    return {"n": n, "first_frame_s": round(drawn_at - t0, 2), "bytes_sent": received["bytes"],
            "points_buffer_bytes": buffer, "xy_bytes": n * 8, "bundle_bytes": bundle, "points_drawn": points,
            "kernel_rss_added_mb": round(rss / 2**20, 1)}


def main(argv=None) -> list[dict]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="points per map (default 100,000 and 1,000,000; --quick: 2,000)")
    args = p.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else [100_000, 1_000_000])
    rows = []
    for n in sizes:
        name = f"map of {n:,} points"
        goal = (f"all drawn; first frame <= {FIRST_FRAME_GOAL_S:.0f} s (at 1M, software WebGL); "
                f"bytes <= {BYTES_GOAL}x the points buffer")
        if not Path(CHROMIUM).exists():
            rows.append(report(name, goal, f"no Chromium at {CHROMIUM}", False, None))
            continue
        started = time.perf_counter()
        m = measure(n)
        ratio = m["bytes_sent"] / m["points_buffer_bytes"]
        data_ratio = (m["bytes_sent"] - m["bundle_bytes"]) / m["points_buffer_bytes"]
        figure = (f"first frame {m['first_frame_s']:.1f} s; sent {m['bytes_sent'] / 2**20:.1f} MiB = {ratio:.2f}x the "
                  f"points buffer ({data_ratio:.2f}x without the {m['bundle_bytes'] / 2**20:.1f} MiB JS bundle, "
                  f"{m['bytes_sent'] / m['xy_bytes']:.2f}x x,y alone); kernel +"
                  f"{m['kernel_rss_added_mb']:.0f} MiB; {m['points_drawn']:,} drawn")
        passed = (m["points_drawn"] == n and ratio <= BYTES_GOAL
                  and (n < 1_000_000 or m["first_frame_s"] <= FIRST_FRAME_GOAL_S))
        rows.append(report(name, goal, figure, passed, None, bytes_ratio=round(ratio, 3),
                           data_bytes_ratio=round(data_ratio, 3),
                           seconds=round(time.perf_counter() - started, 1), **m))
    write_rows(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
