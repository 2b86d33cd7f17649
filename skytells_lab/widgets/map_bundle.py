"""jupyter-scatter's front end (a 2 MiB ES module) loaded once per browser, not sent with every map.

anywidget sends a widget's `_esm` text in every model's state, so each map cost 2.0 MiB on the websocket
before its points, and the same again in every saved notebook. A map's `_esm` is instead the small loader
`loader_esm()`, which imports the bundle once per page (all maps share the module) from, in order:

1. the notebook server, when it runs this module as a server extension (`skytells-lab lab`, the Binder
   image and the browser tests enable it; `jupyter server extension enable skytells_lab.widgets.map_bundle`
   elsewhere): `<base_url>skytells-lab/jscatter/<digest>.js`, gzipped, cached by the browser for a year
   (the URL names the content, so a new jupyter-scatter gets a new URL);
2. else the kernel, over the map's own comm: gzipped bytes (0.4 MiB), once per page.

nbconvert exports and the docs show the map's PNG (see raster.py), so they never load the bundle.

The extension also turns on websocket compression, which the points buffer of every map goes through.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

ROUTE = "skytells-lab/jscatter"
MESSAGE = "skytells-lab-bundle"  # the custom message a map sends when the server cannot give the bundle


def bundle_path() -> Path:
    """jupyter-scatter's bundle.js, found without importing jscatter (the server need not load it)."""
    spec = importlib.util.find_spec("jscatter")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("jupyter-scatter is not installed: pip install 'skytells-lab[widgets]'")
    return Path(next(iter(spec.submodule_search_locations))) / "bundle.js"


@functools.lru_cache(maxsize=1)
def bundle_bytes() -> bytes:
    return bundle_path().read_bytes()


@functools.lru_cache(maxsize=1)
def bundle_digest() -> str:
    return hashlib.sha256(bundle_bytes()).hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def gzipped_bundle() -> bytes:
    return gzip.compress(bundle_bytes(), compresslevel=6, mtime=0)


_LOADER = """\
// skytells-lab: jupyter-scatter's module, imported once per page and shared by every map
const DIGEST = %(digest)s;
const KEY = "__skytellsLabJscatter_" + DIGEST;

function serverUrl() {
  const config = document.getElementById("jupyter-config-data");
  if (!config) return null;
  let base = "/";
  try { base = JSON.parse(config.textContent).baseUrl || "/"; } catch (error) { return null; }
  if (!base.endsWith("/")) base += "/";
  return new URL(base + %(route)s + "/" + DIGEST + ".js", window.location.origin).href;
}

function fromKernel(model) {
  return new Promise((resolve, reject) => {
    const onMessage = (message, buffers) => {
      if (!message || message.type !== %(message)s) return;
      model.off("msg:custom", onMessage);
      if (!buffers || !buffers.length) { reject(new Error(message.error || "no bundle from the kernel")); return; }
      const stream = new Blob([buffers[0]]).stream().pipeThrough(new DecompressionStream("gzip"));
      new Response(stream).text().then(resolve, reject);
    };
    model.on("msg:custom", onMessage);
    model.send({ type: %(message)s });
  });
}

function load(model) {
  if (!globalThis[KEY]) {
    globalThis[KEY] = (async () => {
      const url = serverUrl();
      if (url) {
        try { return await import(url); } catch (error) { console.debug("skytells-lab: bundle not served", error); }
      }
      const text = await fromKernel(model);
      return await import(URL.createObjectURL(new Blob([text], { type: "text/javascript" })));
    })();
    globalThis[KEY].catch(() => { delete globalThis[KEY]; });  // the next map tries again
  }
  return globalThis[KEY];
}

export default {
  async render({ model, el }) {
    const module = await load(model);
    return module.default.render({ model, el });
  },
};
"""


@functools.lru_cache(maxsize=1)
def loader_esm() -> str:
    """The `_esm` of every map: a loader of a few hundred bytes (see the module's docstring)."""
    return _LOADER % {"digest": json.dumps(bundle_digest()), "route": json.dumps(ROUTE),
                      "message": json.dumps(MESSAGE)}


def answer_bundle_request(widget: Any, content: Any) -> bool:
    """Send a map's page the gzipped bundle if `content` asks for it (the server could not give it)."""
    if not (isinstance(content, dict) and content.get("type") == MESSAGE):
        return False
    widget.send({"type": MESSAGE}, buffers=[gzipped_bundle()])
    return True


# ---------------------------------------------------------------------------------------------- server side
def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "skytells_lab.widgets.map_bundle"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    digest = bundle_digest()

    class BundleHandler(JupyterHandler):
        """The bundle, gzipped; its URL names its content, so the browser may keep it for a year."""

        @web.authenticated
        def get(self, requested: str) -> None:
            if requested != digest:
                raise web.HTTPError(404, "another jupyter-scatter version than this server's")
            self.set_header("Content-Type", "text/javascript; charset=utf-8")
            self.set_header("Cache-Control", "private, max-age=31536000, immutable")
            if "gzip" in self.request.headers.get("Accept-Encoding", ""):
                self.set_header("Content-Encoding", "gzip")
                self.finish(gzipped_bundle())
            else:
                self.finish(bundle_bytes())

    settings = serverapp.web_app.settings
    if settings.get("websocket_compression_options") is None:  # unless the server's config chose otherwise
        # A map's points reach the page on the kernel's websocket; permessage-deflate at level 1 sends a
        # 100,000-point buffer (1.6 MB) as 0.9 MB for 20 ms of server time: the colour column is nearly
        # free, x and y shrink by a tenth. Every browser accepts it; Binder's proxy passes it through.
        settings["websocket_compression_options"] = {"compression_level": 1}
        serverapp.log.info("skytells-lab: websocket messages compressed (permessage-deflate, level 1)")
    pattern = url_path_join(settings["base_url"], ROUTE, r"([0-9a-f]+)\.js")
    serverapp.web_app.add_handlers(".*$", [(pattern, BundleHandler)])
    serverapp.log.info("skytells-lab: jupyter-scatter's bundle served at %s", pattern)


def server_extension_args() -> list[str]:
    """The `jupyter lab` command-line flag that enables this extension (for `skytells-lab lab`, the tests)."""
    return ["--ServerApp.jpserver_extensions=skytells_lab.widgets.map_bundle=True"]
