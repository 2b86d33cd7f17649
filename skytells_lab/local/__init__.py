"""The embedded local server: the Skytells API v1 wire protocol on open models, on this machine.

```python
from skytells_lab.local import start_server
with start_server(data_dir="~/lab-data") as srv:   # background thread, free loopback port
    print(srv.url)                                  # http://127.0.0.1:PORT/v1
```
Importing this package is light; FastAPI, uvicorn and torch load when a server starts.
"""

from __future__ import annotations

from skytells_lab._lazy import lazy_exports

_EXPORTS = {
    "LocalServer": "skytells_lab.local.server",
    "start_server": "skytells_lab.local.server",
    "shared_server": "skytells_lab.local.server",
    "serve_forever": "skytells_lab.local.server",
    "ServerConfig": "skytells_lab.local.config",
    "load_config": "skytells_lab.local.config",
    "MediaFile": "skytells_lab.local.media",
    "create_app": "skytells_lab.local.app",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, __all__)
