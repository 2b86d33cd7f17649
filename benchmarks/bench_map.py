"""The embedding map in JupyterLab + Chromium (software WebGL): first frame, bytes sent, kernel memory.

For each size, a notebook builds a space of n points (x, y and a 12-group colour column; not timed), then
one cell runs `space.explore()`. Measured:

- first frame: from the kernel's clock just before `explore()` to regl-scatterplot's first "draw" event
  with the points loaded, in the page (same machine, same clock), split into: kernel build (explore():
  arrays, jupyter-scatter's encodings and labels, the comm_open queued), kernel display (the static PNG
  and the display message), to browser (the points message's arrival after the build), browser until view
  (JupyterLab decodes, the widget model and view are made), view to scatterplot (the bundle imported,
  jupyter-scatter turns the float32 buffer into one JS array per point, regl-scatterplot is created),
  points loaded (state texture and spatial index), first draw;
- bytes sent: what the server sends on the page's websocket connections from the explore cell's start to
  that first frame, counted on the wire by a TCP relay in front of the server (framing and the
  permessage-deflate compression that map_bundle turns on included; the payloads before compression are
  reported too), plus the map's bundle fetched over http from map_bundle's route (0.4 MiB gzipped, once
  per browser: a further map sends only the websocket part), against the point arrays themselves: the
  `points` buffer the map sends (float32 x, y, colour, value: 16 B per point) and x, y alone (8 B per
  point). JupyterLab's own chunks, loaded by the first widget of any kind, are reported but not counted;
- kernel memory: the kernel's resident memory added by `explore()` (VmRSS after minus before).

Goals (issue 17): all points drawn; first frame within 10 s at 1,000,000 points in software WebGL on a
2-core machine; bytes sent at most 1.2x the points buffer.

    python benchmarks/bench_map.py                     # 100,000 and 1,000,000 points (about a minute)
    python benchmarks/bench_map.py --sizes 200000 --json out.json
"""

from __future__ import annotations

import os
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
SPLIT = ["kernel_build_s", "kernel_display_s", "to_browser_s", "browser_until_view_s", "view_to_scatterplot_s",
         "points_loaded_s", "first_draw_s"]

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
t_built = time.time()
display(explorer)
t_shown = time.time()
bundle = len(explorer.map._esm.encode()) + len(explorer.map._css.encode())
print(f"T0 {t0!r} BUILT {t_built!r} SHOWN {t_shown!r} RSS {rss() - before} POINTS {len(explorer.map.points)} "
      f"BUFFER {explorer.map.points.astype('float32').nbytes} BUNDLE {bundle}")
"""

# In the page, before JupyterLab loads: the arrival time and size of every websocket message, and the moments
# the map's view appears, its scatterplot exists, its points are loaded and its first frame is rendered
# (regl-scatterplot's own "draw" event), all on the page's wall clock (the kernel's, on one machine).
RECORDER = """(() => {
  const bench = window.__slBench = {messages: [], view: null, scatterplot: null, ready: null, frame: null};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const data = event.data;
        const size = typeof data === "string" ? data.length : (data.byteLength ?? data.size ?? 0);
        bench.messages.push([Date.now() / 1000, size]);
      });
    }
  };
  const loaded = (holder) => {
    try { holder.api.getScreenPosition(0); return true; } catch (e) { return false; }  // throws until loaded
  };
  const watch = () => {
    const map = document.querySelector(".sl-explorer-map");
    if (map && bench.view === null) bench.view = Date.now() / 1000;
    const holder = map && [...map.querySelectorAll("div")].find((d) => d.api);
    if (holder && bench.scatterplot === null) {
      bench.scatterplot = Date.now() / 1000;
      holder.api.subscribe("draw", () => {
        if (bench.frame === null && loaded(holder)) bench.frame = Date.now() / 1000;
      });
    }
    if (holder && bench.ready === null && loaded(holder)) bench.ready = Date.now() / 1000;
    if (bench.frame === null || bench.ready === null) requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
})();"""
FRAME = "() => window.__slBench && window.__slBench.frame !== null && window.__slBench.ready !== null && window.__slBench"


class WireCount:
    """A TCP relay in front of the lab server counting what the server sends on websocket connections, as
    it crosses the wire (websocket framing and permessage-deflate included): the page's websocket events
    see payloads after decompression."""

    def __init__(self, target: str):
        import asyncio
        import threading

        self.host, port = target.removeprefix("http://").split(":")
        self.target_port, self.bytes, self.on = int(port), 0, False
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._relay, self.host, 0), self.loop).result()
        self.base = f"http://{self.host}:{server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader, writer) -> None:
        import asyncio

        up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        first = await reader.read(65536)
        websocket = b"upgrade: websocket" in first.lower()
        up_writer.write(first)

        async def pipe(source, sink, counted: bool) -> None:
            try:
                while data := await source.read(65536):
                    if counted and self.on:
                        self.bytes += len(data)
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, websocket),
                             return_exceptions=True)


def measure(n: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    received = {"ws": 0, "http": 0, "lab_http": 0, "on": False}

    def on_frame(payload) -> None:
        if received["on"]:
            received["ws"] += len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))

    def on_response(request) -> None:
        if received["on"]:
            try:
                sizes = request.sizes()
            except Exception:  # noqa: BLE001 - a request that failed has no sizes
                return
            # the map's own front end (map_bundle's route) vs JupyterLab's chunks any first widget loads
            key = "http" if "/skytells-lab/jscatter/" in request.url else "lab_http"
            received[key] += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp, \
            running_lab(Path(tmp) / "lab", [SETUP.format(n=n), EXPLORE], "map.ipynb") as (lab, token, name), \
            sync_playwright() as p:
        wire = WireCount(lab)
        base = wire.base
        browser = p.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS)
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.add_init_script(RECORDER)
            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            page.on("requestfinished", on_response)
            open_notebook(page, base, token, name, "BUNDLE")
            run_cell(page, 0)
            expect(page.locator(".jp-Cell").nth(0).locator(".jp-OutputArea-output")).to_contain_text(
                "READY", timeout=600_000)
            page.evaluate("() => { window.__slBench.messages = []; }")
            received["on"] = wire.on = True
            run_cell(page, 1)
            output = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
            try:
                bench = page.wait_for_function(FRAME, polling=100, timeout=300_000).json_value()
                expect(page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")).to_contain_text("BUNDLE", timeout=60_000)
            except Exception as exc:
                page.screenshot(path=str(ARTIFACTS / f"bench-map-{n}-failure.png"))
                seen = page.evaluate("() => window.__slBench && {...window.__slBench, messages: undefined}")
                raise RuntimeError(f"the map of {n:,} points was not drawn; the cell shows: "
                                   f"{output.first.inner_text(timeout=5000)[:2000]!r}; the page saw {seen}") from exc
            received["on"] = wire.on = False
            text = "\n".join(output.all_inner_texts())
        finally:
            browser.close()
    found = re.search(r"T0 ([\d.]+) BUILT ([\d.]+) SHOWN ([\d.]+) RSS (-?\d+) POINTS (\d+) BUFFER (\d+) BUNDLE (\d+)",
                      text)
    t0, built, shown = float(found[1]), float(found[2]), float(found[3])
    rss, points, buffer, bundle = int(found[4]), int(found[5]), int(found[6]), int(found[7])
    messages = [(at, size) for at, size in bench["messages"] if at >= t0]
    points_at = max(messages, key=lambda m: m[1])[0]  # the comm_open that carries the points
    last_at = max(at for at, size in messages if size > 1000 and at <= bench["view"] + 0.5) \
        if bench["view"] else points_at
    split = {"kernel_build_s": built - t0, "kernel_display_s": shown - built,
             "to_browser_s": max(0.0, points_at - built), "browser_until_view_s": bench["view"] - max(points_at, shown),
             "view_to_scatterplot_s": bench["scatterplot"] - bench["view"],
             "points_loaded_s": min(bench["ready"], bench["frame"]) - bench["scatterplot"],
             "first_draw_s": max(0.0, bench["frame"] - bench["ready"])}
    return {"n": n, "first_frame_s": round(bench["frame"] - t0, 2), "bytes_sent": wire.bytes + received["http"],
            "websocket_bytes": wire.bytes, "websocket_payload_bytes": received["ws"], "http_bytes": received["http"], "lab_http_bytes": received["lab_http"],
            "points_buffer_bytes": buffer, "xy_bytes": n * 8, "bundle_bytes": bundle, "points_drawn": points,
            "kernel_rss_added_mb": round(rss / 2**20, 1), "last_message_s": round(last_at - t0, 2),
            **{k: round(v, 2) for k, v in split.items()}}


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
        split = ", ".join(f"{key[:-2].replace('_', ' ')} {m[key]:.2f}" for key in SPLIT)
        figure = (f"first frame {m['first_frame_s']:.1f} s ({split}); sent {m['bytes_sent'] / 2**20:.2f} MiB = "
                  f"{ratio:.2f}x the points buffer, {m['websocket_bytes'] / m['points_buffer_bytes']:.2f}x for each "
                  f"further map ({m['websocket_bytes'] / 2**20:.2f} MiB websocket on the wire, "
                  f"{m['websocket_payload_bytes'] / 2**20:.2f} MiB before compression, "
                  f"{m['http_bytes'] / 2**20:.2f} MiB bundle over http, once per browser; "
                  f"{m['bytes_sent'] / m['xy_bytes']:.2f}x x,y alone; JupyterLab's own chunks "
                  f"{m['lab_http_bytes'] / 2**20:.2f} MiB not counted); "
                  f"kernel +{m['kernel_rss_added_mb']:.0f} MiB; {m['points_drawn']:,} drawn; "
                  f"load {os.getloadavg()[0]:.1f}")
        passed = (m["points_drawn"] == n and ratio <= BYTES_GOAL
                  and (n < 1_000_000 or m["first_frame_s"] <= FIRST_FRAME_GOAL_S))
        rows.append(report(name, goal, figure, passed, None, bytes_ratio=round(ratio, 3),
                           further_map_bytes_ratio=round(m["websocket_bytes"] / m["points_buffer_bytes"], 3),
                           seconds=round(time.perf_counter() - started, 1), **m))
    write_rows(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
