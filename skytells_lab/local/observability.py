"""Watching a running server: Prometheus metrics (``GET /metrics``) and the JSON access log.

Every request is counted and timed by its route template (``/v1/predictions/{prediction_id}``, never the
raw path, so ids cannot grow the number of series), the local model it named (a catalog slug, never what a
client sent) and its status. The access log line of a request holds the same fields plus its request id;
it never holds headers (keys), bodies, raw paths or query strings.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skytells_lab.local.app import ServerState

ACCESS_LOGGER = "skytells_lab.access"
UNMATCHED = "unmatched"  # the route label of a request no route served (see route_template)
# seconds: from a poll of a prediction (a millisecond) to a long chat generation or an `await: true` hold
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   120.0, 300.0)
_PREDICTION_STATUS = {"prediction.created": "pending", "prediction.started": "processing",
                      "prediction.succeeded": "succeeded", "prediction.failed": "failed",
                      "prediction.cancelled": "cancelled"}


class ServerMetrics:
    """The metrics of one server, in a registry of its own (servers in one process never share a series)."""

    def __init__(self, state: ServerState):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        self.registry = registry = CollectorRegistry()
        labels = ("method", "route", "model", "status")
        self.requests = Counter("skytells_lab_http_requests", "HTTP requests answered, by route template, "
                                "local model and status code", labels, registry=registry)
        self.latency = Histogram("skytells_lab_http_request_duration_seconds", "Time from a request's arrival "
                                 "to its response's last byte (a stream's last event)", labels,
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = Gauge("skytells_lab_http_requests_in_flight", "Requests being answered now",
                               registry=registry)
        self.predictions = Counter("skytells_lab_predictions", "Predictions that entered each status "
                                   "(pending: created)", ("model", "status"), registry=registry)
        self.texts = Counter("skytells_lab_embedded_texts", "Texts embedded by POST /v1/embeddings", ("model",),
                             registry=registry)
        self.tokens = Counter("skytells_lab_embedded_tokens", "Tokens embedded by POST /v1/embeddings",
                              ("model",), registry=registry)
        ProcessCollector(registry=registry)  # the server's own CPU and memory (process_*), on Linux
        self._children: dict[tuple, tuple] = {}  # labels -> (counter, histogram): `labels()` takes a lock each call
        registry.register(_StateCollector(state))

    def observe_request(self, labels: tuple, seconds: float) -> None:
        children = self._children.get(labels)
        if children is None:
            children = self._children.setdefault(labels, (self.requests.labels(*labels), self.latency.labels(*labels)))
        children[0].inc()
        children[1].observe(seconds)

    def observe_prediction(self, event: str, rec: dict) -> None:
        status = _PREDICTION_STATUS.get(event)
        if status:
            self.predictions.labels(rec.get("local_model") or "", status).inc()

    def observe_embeddings(self, model: str, texts: int, tokens: int) -> None:
        self.texts.labels(model).inc(texts)
        self.tokens.labels(model).inc(tokens)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the scraper asked for (Prometheus text, or OpenMetrics) and its type."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _StateCollector:
    """What is read from the server as it is scraped: queue, workers, models and readiness."""

    def __init__(self, state: ServerState):
        self._state = state

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        state = self._state
        worker = state.predictions.worker
        running = worker.running()
        yield GaugeMetricFamily("skytells_lab_predictions_queued", "Predictions waiting for a worker thread",
                                value=max(0, worker.waiting() - running))
        yield GaugeMetricFamily("skytells_lab_predictions_running", "Predictions a worker thread is on (loading "
                                "the model or running it)", value=running)
        yield CounterMetricFamily("skytells_lab_worker_busy_seconds", "Seconds the prediction worker threads "
                                  "spent on predictions (divide its rate by the threads for utilization)",
                                  value=worker.busy_seconds())
        yield GaugeMetricFamily("skytells_lab_worker_threads", "Prediction worker threads",
                                value=state.config.workers)
        yield GaugeMetricFamily("skytells_lab_inference_calls_running", "Chat, responses and embeddings calls "
                                "inside a model now", value=state.inference.running())
        states = state.readiness.states()
        loaded = GaugeMetricFamily("skytells_lab_model_loaded", "1 once the model's weights are loaded",
                                   labels=("model",))
        state_family = GaugeMetricFamily("skytells_lab_model_state", "1 for the model's state: ready, loading, "
                                         "failed or cold (loads on first use)", labels=("model", "state"))
        load_time = GaugeMetricFamily("skytells_lab_model_load_seconds", "How long loading the model's weights "
                                      "took", labels=("model",))
        for slug, runner in state.catalog.runners.items():
            loaded.add_metric([slug], 1.0 if runner.loaded else 0.0)
            for name in ("ready", "loading", "failed", "cold"):
                state_family.add_metric([slug, name], 1.0 if states.get(slug) == name else 0.0)
            if runner.loaded and getattr(runner, "load_seconds", None) is not None:
                load_time.add_metric([slug], runner.load_seconds)
        yield loaded
        yield state_family
        yield load_time
        yield GaugeMetricFamily("skytells_lab_ready", "1 once every model loaded at start is ready "
                                "(GET /v1/health answers 200)", value=1.0 if state.readiness.ready else 0.0)
        yield GaugeMetricFamily("skytells_lab_start_time_seconds", "When the server started (Unix time)",
                                value=state.started)
        from skytells_lab._version import __version__

        yield InfoMetricFamily("skytells_lab_server", "The server's version and device",
                               value={"version": __version__, "device": state.device})


def route_template(scope) -> str:
    """The template of the route that served the request; `unmatched` when none did: no route serves its
    path (404), or a guard answered before routing (403 HOST_NOT_ALLOWED / ORIGIN_NOT_ALLOWED, 413)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


class ObservabilityMiddleware:
    """Pure ASGI, outermost: counts and times every request (guards' refusals included) and, with an access
    logger, writes one JSON line per request."""

    def __init__(self, app, *, metrics: ServerMetrics, access_log: logging.Logger | None = None):
        self.app, self.metrics, self.access_log = app, metrics, access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began, start = time.time(), time.perf_counter()
        status, size = 500, 0

        async def observed_send(message):
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - start
            route = route_template(scope)
            request_state = scope.get("state") or {}
            model = request_state.get("model") or ""
            labels = (scope["method"], route, model, str(status))
            self.metrics.observe_request(labels, seconds)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.info(json.dumps({
                    "time": iso_time(began), "method": scope["method"], "route": route, "status": status,
                    "duration_s": round(seconds, 6), "model": model or None,
                    "request_id": request_state.get("request_id"), "bytes": size,
                    "client": client[0] if client else None}))


def iso_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: an access record as it is (already JSON), any other record as
    ``{time, level, logger, message}`` (uvicorn's start-up and error lines, the server's warnings)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == ACCESS_LOGGER:
            return record.getMessage()
        out = {"time": iso_time(record.created), "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


LOG_FORMATS = ("text", "json")


def check_log_format(log_format: str) -> str:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be 'text' or 'json', not {log_format!r}")
    return log_format


def json_log_config(level: str = "info") -> dict:
    """A uvicorn `log_config` writing JSON lines: access lines on stdout, the rest on stderr (uvicorn's own
    access log is off: its text lines carry query strings)."""
    formatter = {"()": f"{__name__}.JsonFormatter"}
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
                     "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {"uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
                    "uvicorn.error": {"level": level},
                    "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
                    "skytells_lab": {"handlers": ["default"], "level": "WARNING", "propagate": False},
                    ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False}},
    }
