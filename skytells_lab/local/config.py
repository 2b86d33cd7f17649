"""The server's settings: a TOML file with `[server]`, `[models.<slug>]` and `[aliases]`, plus arguments.

```toml
[server]
api_key = "sk-local-..."        # require this key (also --api-key); required off loopback
webhook_secret = "..."           # signs webhooks instead of the api key
webhook_format = "envelope"      # or "prediction" (the bare prediction object as the body)
webhook_max_attempts = 5         # retries with exponential backoff
webhook_allow_private = false    # allow private/link-local webhook targets (loopback: only on a loopback bind)
workers = 1                      # prediction worker threads
max_queued_predictions = 1000    # beyond it, creating answers 429 RATE_LIMIT_EXCEEDED + Retry-After
await_timeout = 300              # seconds `await: true` holds a request at most
max_body_bytes = 26214400        # bigger request bodies answer 413
max_json_depth = 32              # deeper JSON answers 400
max_media_bytes = 10485760       # cap on one media input (data URI or loopback URL)
media_fetch_timeout = 30         # seconds, in all, the media URL fetches of one request may take
credits = 10.0                   # a credit balance: spending past it answers 402 INSUFFICIENT_CREDITS
rate_limit_requests = 60         # per rolling window; beyond it 429 RATE_LIMIT_EXCEEDED + Retry-After
rate_limit_window = 60           # seconds
max_tokens = 512                 # cap on generated tokens per chat/responses call
public_url = "http://host:8000"  # base of the URLs in webhooks (default: the bound address)
allow_origins = []               # web origins whose browser requests are served ("http://localhost:3000"; "*")
allowed_hosts = []               # Host names a loopback server answers besides localhost and loopback IPs
preload = false                  # load models as the server starts (true: all; or ["slug", ...]); until
                                 # they are loaded GET /v1/health answers 503 MODELS_LOADING
metrics_require_key = false      # GET /metrics asks for the api key too (it is open, as /v1/health is)

[models.tiny-sd]                 # more models: any runner of skytells_lab.local.runners.build_runner
runner = "diffusers"
path = "/models/tiny-sd"         # local path or hub id
type = "image"
pricing = { amount = 0.01, currency = "USD", unit = "image" }   # optional catalog overrides

[aliases]                        # service slugs served by local models (parity runs)
truefusion = "digits-diffusion"
```
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skytells_lab._paths import data_home

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

# catalog fields a [models.<slug>] table may override; the rest of the table goes to build_runner
CATALOG_OVERRIDES = ("name", "description", "pricing", "privacy", "vendor", "billable", "status")


@dataclass
class ServerConfig:
    api_key: str | None = field(default=None, repr=False)  # secrets stay out of reprs and logs
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_format: str = "envelope"
    webhook_max_attempts: int = 5
    webhook_backoff: float = 1.0
    webhook_allow_private: bool = False
    workers: int = 1
    max_queued_predictions: int = 1000
    await_timeout: float = 300.0
    max_body_bytes: int = 25 * 1024 * 1024
    max_json_depth: int = 32
    max_media_bytes: int = 10 * 1024 * 1024
    media_fetch_timeout: float = 30.0
    credits: float | None = None
    rate_limit_requests: int | None = None
    rate_limit_window: float = 60.0
    max_tokens: int = 512
    public_url: str | None = None
    allow_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    preload: bool | list[str] = False
    metrics_require_key: bool = False
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.max_queued_predictions, int) or self.max_queued_predictions < 1:
            raise ValueError(f"max_queued_predictions must be a whole number of at least 1, "
                             f"not {self.max_queued_predictions!r}")
        for name in ("allow_origins", "allowed_hosts"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"{name} must be a list of strings, not {value!r}")
        if not isinstance(self.metrics_require_key, bool):
            raise ValueError(f"metrics_require_key must be true or false, not {self.metrics_require_key!r}")  # noqa: TRY004
        if self.webhook_format not in ("envelope", "prediction"):
            raise ValueError(f"webhook_format must be 'envelope' or 'prediction', not {self.webhook_format!r}")


def load_config(config: str | os.PathLike | dict | ServerConfig | None) -> ServerConfig:
    """A ServerConfig from a TOML path, an already parsed dict of the same layout, or None (defaults)."""
    if isinstance(config, ServerConfig):
        return config
    if config is None:
        return ServerConfig()
    if isinstance(config, dict):
        raw = config
    else:
        path = Path(config).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"skytells-lab server config {path} does not exist")
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    unknown = set(raw) - {"server", "models", "aliases"}
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)} in the server config; "
                         "expected [server], [models.<slug>] and [aliases]")
    server = dict(raw.get("server", {}))
    known = {f.name for f in dataclasses.fields(ServerConfig)} - {"models", "aliases"}
    bad = set(server) - known
    if bad:
        raise ValueError(f"unknown [server] option(s) {sorted(bad)}; known: {sorted(known)}")
    models = {slug: dict(spec) for slug, spec in raw.get("models", {}).items()}
    for slug, spec in models.items():
        if "runner" not in spec:
            raise ValueError(f"[models.{slug}] needs runner = \"diffusers\" | \"embeddings\" | \"chat\" | \"digits\"")
    return ServerConfig(**server, models=models, aliases=dict(raw.get("aliases", {})))


def default_data_dir() -> Path:
    """SKYTELLS_LAB_HOME, else the user's data dir for skytells-lab."""
    return data_home()
