"""Running the server: `start_server()` in a background thread, `shared_server()`, `serve_forever()`."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
import weakref
from pathlib import Path

from skytells_lab._media import is_loopback_host
from skytells_lab.local.config import ServerConfig, default_data_dir, load_config
from skytells_lab.local.devices import check_device

log = logging.getLogger("skytells_lab.local")
_LIVE: weakref.WeakSet = weakref.WeakSet()
_SHARED: LocalServer | None = None
_SHARED_LOCK = threading.Lock()


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _webhook_secret(config: ServerConfig, api_key: str | None, data_dir: Path) -> str:
    """The configured secret, else the api key, else a secret kept in the data dir (so receivers can verify)."""
    if config.webhook_secret or api_key:
        return config.webhook_secret or api_key
    path = data_dir / "webhook_secret"
    if not path.exists():
        path.write_text("whsec_" + secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def build_state(*, data_dir=None, api_key=None, device="auto", config=None, runners=None, host="127.0.0.1",
                public_url: str, dtype=None, preload=None, log_format: str = "text"):
    """Assemble store, catalog, services and dispatcher (nothing runs until the app starts).

    `preload` (true, or a list of slugs) overrides `[server] preload`; `log_format="json"` writes one JSON
    access-log line per request on the `skytells_lab.access` logger."""
    from skytells_lab.local.app import ServerState
    from skytells_lab.local.catalog import Catalog
    from skytells_lab.local.guards import RateLimiter
    from skytells_lab.local.inference import InferenceService
    from skytells_lab.local.observability import check_log_format
    from skytells_lab.local.predictions import PredictionService
    from skytells_lab.local.store import Store
    from skytells_lab.local.webhooks import WebhookDispatcher

    check_log_format(log_format)
    cfg = load_config(config)
    if preload is not None:
        import dataclasses

        cfg = dataclasses.replace(cfg, preload=preload)
    api_key = api_key or cfg.api_key
    if not api_key and not is_loopback_host(host):
        raise ValueError(f"binding the server to {host!r} (not loopback) needs an API key: pass api_key= / "
                         "--api-key, or set [server] api_key in the config")
    device = check_device(resolve_device(device))
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if runners is None:
        from skytells_lab.local.runners import default_runners

        runners = default_runners(device, dtype)
    runners = list(runners)
    if cfg.models:
        from skytells_lab.local.runners import build_runner

        runners += [build_runner({**spec, "slug": slug}, device) for slug, spec in cfg.models.items()]
    from skytells_lab.local.readiness import preload_slugs

    preload_slugs(cfg.preload, [r.slug for r in runners])  # a bad `preload` is refused before the store opens
    store = Store(data_dir)
    catalog = Catalog(runners, cfg)
    public_url = (cfg.public_url or public_url).rstrip("/")
    dispatcher = WebhookDispatcher(_webhook_secret(cfg, api_key, data_dir), body_format=cfg.webhook_format,
                                   max_attempts=cfg.webhook_max_attempts, backoff=cfg.webhook_backoff,
                                   allow_private=cfg.webhook_allow_private, allow_loopback=is_loopback_host(host))
    predictions = PredictionService(store, catalog, cfg, device, dispatcher, public_url)
    predictions.webhook_allow_loopback = is_loopback_host(host)
    inference = InferenceService(catalog, store, cfg, predictions.check_budget)
    return ServerState(config=cfg, store=store, catalog=catalog, dispatcher=dispatcher, predictions=predictions,
                       inference=inference, device=device, api_key=api_key, host=host,
                       access_log=log_format == "json",
                       rate_limiter=RateLimiter(cfg.rate_limit_requests, cfg.rate_limit_window))


class LocalServer:
    """The embedded server running in a background thread. `url` ends in `/v1`."""

    def __init__(self, state, host: str, port: int, thread: threading.Thread, server):
        self.state = state
        self.host, self.port = host, port
        self._thread, self._server = thread, server
        self._stop_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}/v1"

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def data_dir(self) -> Path:
        return self.state.store.data_dir

    @property
    def device(self) -> str:
        return self.state.device

    @property
    def api_key(self) -> str | None:
        return self.state.api_key

    @property
    def webhook_secret(self) -> str:
        """The key that signs this server's webhooks (X-Skytells-Signature)."""
        return self.state.dispatcher.secret

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish open requests (up to a few seconds), stop the worker and webhooks, close the store.

        Running chat generations are stopped at their next token first, so the requests serving them end
        normally instead of being cancelled by uvicorn with their threads still inside torch; then this
        waits for any model work left in server threads (a daemon thread in torch when the interpreter
        finalizes aborts it with "FATAL: exception not rethrown")."""
        with self._stop_lock:
            deadline = time.monotonic() + timeout
            inference = self.state.inference
            if self._thread.is_alive():
                self._server.should_exit = True
                inference.halt(timeout / 2)
                self._thread.join(max(0.0, deadline - time.monotonic()))
            inference.halt(max(1.0, deadline - time.monotonic()))
            _LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalServer {self.url} device={self.device} {state}>"


def start_server(data_dir=None, api_key=None, device="auto", config=None, host="127.0.0.1", port=0,
                 runners=None, *, dtype=None, log_level: str = "warning", preload=None,
                 log_format: str = "text") -> LocalServer:
    """Start the server in a background thread on `host:port` (0: a free port); return once it answers.

    `preload`: true (every model) or a list of slugs to load as the server starts, in a background thread
    (`/v1/health` answers 503 until they are loaded); None takes `[server] preload` (default: load on first
    use). `log_format="json"`: one JSON line per request on the `skytells_lab.access` logger (attach a
    handler to see them); "text" writes no access log."""
    import uvicorn

    from skytells_lab.local.app import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        port = sock.getsockname()[1]
        state = build_state(data_dir=data_dir, api_key=api_key, device=device, config=config, runners=runners,
                            host=host, public_url=f"http://{_url_host(host)}:{port}", dtype=dtype,
                            preload=preload, log_format=log_format)
    except BaseException:
        sock.close()
        raise
    server = uvicorn.Server(_uvicorn_config(create_app(state), log_level=log_level, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="skytells-lab-server",
                              daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the skytells-lab local server failed to start; see the log above")
        thread.join(0.02)
    local = LocalServer(state, host, port, thread, server)
    _LIVE.add(local)
    return local


def shared_server(device: str = "auto", dtype=None) -> LocalServer:
    """One server per process (what `connect()` uses), started on the first call, on the default data dir."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or not _SHARED.running:
            _SHARED = start_server(device=device, dtype=dtype)
        elif device not in ("auto", _SHARED.device):
            log.warning("the shared local server already runs on %s; ignoring device=%r", _SHARED.device, device)
        return _SHARED


def serve_forever(host: str = "127.0.0.1", port: int = 8000, device: str = "auto", api_key: str | None = None,
                  data_dir: str | os.PathLike | None = None, config: str | os.PathLike | dict | None = None,
                  dtype: str | None = None, preload: bool | list[str] | None = None,
                  log_format: str = "text") -> None:
    """Serve in the foreground until Ctrl-C / SIGTERM (`skytells-lab serve`).

    `log_format="json"`: every log line is a JSON object, one access line per request on stdout (time,
    method, route, status, duration_s, model, request_id, bytes, client; never keys, bodies or query
    strings); "text" keeps uvicorn's access log. `preload` as for :func:`start_server`."""
    import uvicorn

    from skytells_lab.local.app import create_app
    from skytells_lab.local.observability import json_log_config

    state = build_state(data_dir=data_dir, api_key=api_key, device=device, config=config, host=host,
                        public_url=f"http://{_url_host(host)}:{port}", dtype=dtype, preload=preload,
                        log_format=log_format)
    banner = (f"skytells-lab local server: http://{_url_host(host)}:{port}/v1  device={state.device}  "
              f"data={state.store.data_dir}  models={', '.join(state.catalog.slugs)}"
              + ("  (api key required)" if state.api_key else ""))
    options = {}
    if log_format == "json":
        import json

        from skytells_lab.local.observability import iso_time

        banner = json.dumps({"time": iso_time(time.time()), "level": "info", "logger": "skytells_lab.local",
                             "message": banner})
        options = {"log_config": json_log_config("info"), "access_log": False}
    print(banner, flush=True)
    uvicorn.Server(_uvicorn_config(create_app(state), host=host, port=port, log_level="info", **options)).run()


def _uvicorn_config(app, **options):
    import uvicorn

    # Keep idle connections open longer than clients keep them pooled (httpx: 5 s, the same as uvicorn's
    # default): with equal timeouts the server may close a connection just as a client reuses it, and the
    # client sees a ReadError on a request the server never read.
    return uvicorn.Config(app, lifespan="on", timeout_graceful_shutdown=5, timeout_keep_alive=75, **options)


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(timeout=10)
