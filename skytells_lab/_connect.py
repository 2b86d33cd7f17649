"""``connect()``: the composition root. It picks the client, starts the embedded server when it is the
backend, and registers the pandas accessor; the floors below know nothing of each other (docs/architecture.md).

Key from the argument or ``SKYTELLS_API_KEY`` (or a prompt that does not echo, with ``api_key=True``), base URL
from the argument or ``SKYTELLS_BASE_URL``. No key and no URL, or ``"local"``: the embedded local server. A
remote URL without a key is refused before any request is sent.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from skytells_lab._media import is_loopback_url
from skytells_lab.api import AsyncSkytells, ConfigurationError, Skytells
from skytells_lab.api._http import DEFAULT_BASE_URL

_REMOTE_ALIASES = {"remote", "skytells", "service", "api"}
LOCAL_TIMEOUT = 300.0


def connect(target: str | None = None, *, api_key: str | bool | None = None, base_url: str | None = None,
            device: str = "auto", dtype: str | None = None, data_dir: Any = None, asynchronous: bool = False,
            **client_kw: Any) -> Skytells | AsyncSkytells:
    """A client for the service (a key is set) or the embedded local server (no key, or ``"local"``).

    ``connect()``, ``connect("local", device="cuda", dtype="float16")``, ``connect("https://api.skytells.ai/v1")``,
    ``connect(api_key=True)`` to type the key at a hidden prompt. ``asynchronous=True`` returns an
    :class:`AsyncSkytells`. ``client_kw`` are :class:`Skytells`' keyword options (``timeout``, ``store``, ...).
    Once pandas (or dask.dataframe) is imported, ``df.skytells`` is registered too.
    """
    from skytells_lab import _register_accessors

    _register_accessors()
    cls = AsyncSkytells if asynchronous else Skytells
    if api_key is True:
        api_key = getpass.getpass("Skytells API key (input hidden): ").strip() or None
    key = api_key or os.environ.get("SKYTELLS_API_KEY") or None
    if target is not None and target not in ("local", *_REMOTE_ALIASES) and not target.startswith(
            ("http://", "https://")):
        raise ConfigurationError(f"connect() target must be 'local', 'remote' or an http(s) URL, got {target!r}")
    if target in _REMOTE_ALIASES:
        url = base_url or DEFAULT_BASE_URL
    elif target not in (None, "local"):
        url = target
    else:
        url = base_url or (os.environ.get("SKYTELLS_BASE_URL") or None if target is None else None)

    if target == "local" or (target is None and not key and not url) or (url and is_loopback_url(url)):
        # open models on a laptop CPU may take minutes for a large batch: wait longer than for the service
        client_kw.setdefault("timeout", LOCAL_TIMEOUT)
    if target == "local" or (target is None and not key and not url):
        from skytells_lab import local

        # the shared server lives on the default data dir; another data dir gets a server of its own
        srv = local.shared_server(device=device, dtype=dtype) if data_dir is None else local.start_server(
            data_dir=data_dir, device=device, dtype=dtype)
        # "" rather than None: the user's SKYTELLS_API_KEY is never sent to the embedded server
        return cls(getattr(srv, "api_key", None) or "", srv.url, local=True, **client_kw)

    url = url or DEFAULT_BASE_URL
    if not key and not is_loopback_url(url):
        raise ConfigurationError(
            f"no API key for {url}. Set the SKYTELLS_API_KEY environment variable "
            "(e.g. `export SKYTELLS_API_KEY=sk-...`, or in a notebook "
            "`os.environ['SKYTELLS_API_KEY'] = getpass.getpass()`), pass connect(api_key=...), "
            "use connect(api_key=True) to be prompted, or connect('local') for the embedded server.",
            error_id="MISSING_API_KEY",
        )
    return cls(key or "", url, **client_kw)
