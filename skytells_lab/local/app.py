"""The FastAPI application: every route of the Skytells API v1 the service and its SDKs use."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
import urllib.parse
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from skytells_lab._version import __version__
from skytells_lab.local.catalog import Catalog, parse_fields
from skytells_lab.local.config import ServerConfig
from skytells_lab.local.errors import ApiError
from skytells_lab.local.guards import (
    BrowserGuardMiddleware,
    RateLimiter,
    RequestContextMiddleware,
    check_key,
    parse_json,
    read_limited,
    require_json,
)
from skytells_lab.local.inference import InferenceService
from skytells_lab.local.observability import ACCESS_LOGGER, ObservabilityMiddleware, ServerMetrics
from skytells_lab.local.predictions import (
    PredictionService,
    marked,
    render,
    unreadable_fields,
    unreadable_prediction,
)
from skytells_lab.local.readiness import Readiness, preload_slugs
from skytells_lab.local.store import TERMINAL, Store
from skytells_lab.local.webhooks import WebhookDispatcher
from skytells_lab.local.wire_values import shown

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class ServerState:
    """Everything one server holds; the app's lifespan starts and stops it."""

    config: ServerConfig
    store: Store
    catalog: Catalog
    dispatcher: WebhookDispatcher
    predictions: PredictionService
    inference: InferenceService
    device: str
    api_key: str | None = field(repr=False)  # a repr (a notebook cell, a log line) never shows the key
    rate_limiter: RateLimiter = field(repr=False)
    started: float = field(default_factory=time.time)
    recovered: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"  # the bound address: a loopback bind checks the Host header
    access_log: bool = False  # one JSON line per request on the `skytells_lab.access` logger
    readiness: Readiness = field(init=False, repr=False)
    metrics: ServerMetrics = field(init=False, repr=False)

    def __post_init__(self):
        self.readiness = Readiness(self.catalog.runners, preload_slugs(self.config.preload, self.catalog.slugs))
        self.metrics = ServerMetrics(self)
        self.predictions.observers.append(self.metrics.observe_prediction)

    def start(self) -> None:
        self.dispatcher.start()
        self.recovered = self.predictions.start()
        self.readiness.start()

    def stop(self) -> None:
        self.predictions.stop()
        self.dispatcher.stop()
        self.readiness.join(30.0)
        self.store.close()


def _body(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_PREDICTION_BODY = _body({"type": "object", "required": ["model", "input"], "properties": {
    "model": {"type": "string"}, "input": {"type": "object"}, "await": {"type": "boolean"},
    "stream": {"type": "boolean"},
    "webhook": {"oneOf": [{"type": "string", "format": "uri"}, {"type": "object", "properties": {
        "url": {"type": "string", "format": "uri"}, "events": {"type": "array", "items": {"type": "string"}}}}]}}})
_CHAT_BODY = _body({"type": "object", "required": ["model", "messages"], "properties": {
    "model": {"type": "string"}, "messages": {"type": "array", "items": {"type": "object"}},
    "stream": {"type": "boolean"}, "max_tokens": {"type": "integer"}, "temperature": {"type": "number"},
    "top_p": {"type": "number"}, "seed": {"type": "integer"}, "stop": {}}})
_RESPONSES_BODY = _body({"type": "object", "required": ["model", "input"], "properties": {
    "model": {"type": "string"}, "input": {}, "instructions": {"type": "string"}, "stream": {"type": "boolean"},
    "store": {"type": "boolean"}, "previous_response_id": {"type": "string"},
    "max_output_tokens": {"type": "integer"}, "temperature": {"type": "number"}}})
_EMBEDDINGS_BODY = _body({"type": "object", "required": ["model", "input"], "properties": {
    "model": {"type": "string"}, "input": {}, "encoding_format": {"type": "string", "enum": ["float", "base64"]},
    "dimensions": {"type": "integer"}}})


def create_app(state: ServerState) -> FastAPI:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(state.start)
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)

    app = FastAPI(title="Skytells API v1 (skytells-lab local server)", version=__version__, lifespan=lifespan,
                  description="The Skytells API v1 wire protocol served on open models by skytells-lab.")
    app.state.server = state

    async def render_error(exc: ApiError, scope, send) -> None:
        request_id = scope["state"].get("request_id")
        response = JSONResponse(exc.body_for(scope["path"], request_id), exc.http_status, headers=exc.headers)
        await response(scope, None, send)

    def error_response(request: Request, exc: ApiError) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        return JSONResponse(exc.body_for(request.url.path, request_id), exc.http_status, headers=exc.headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            err = ApiError(404, "ENDPOINT_NOT_FOUND", f"No route {request.method} {request.url.path}.",
                           response="Endpoint not found")
        elif exc.status_code == 405:
            err = ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}.")
        else:
            err = ApiError(exc.status_code, "HTTP_ERROR", str(exc.detail))
        return error_response(request, err)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        name = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return error_response(request, ApiError(422, "VALIDATION_ERROR", f"Invalid '{name}': {first.get('msg')}",
                                                {"field": name}, param=name))

    async def guard(request: Request) -> None:
        check_key(state.api_key, request.headers)
        request.state.ratelimit = state.rate_limiter.hit()

    async def read_body(request: Request):
        raw = await read_limited(request, state.config.max_body_bytes)
        if raw.strip():  # an empty body is answered as such, whatever its type
            require_json(request.headers)
        body = parse_json(raw, state.config.max_json_depth)
        if isinstance(body, dict):  # the model label of the request's metrics and access-log line
            request.state.model = state.catalog.local_slug(body.get("model"))
        return body

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    open_routes = APIRouter(prefix="/v1")
    api = APIRouter(prefix="/v1", dependencies=[Depends(guard)])

    # health and files (open: liveness probes, and output URLs that notebooks embed as <img src>) ------

    @open_routes.get("/health", tags=["status"], responses={503: {"description": "Models still loading"}})
    async def health():
        """Readiness: 200 once every model the server loads at start (`[server] preload`) is ready; 503
        MODELS_LOADING (or MODELS_FAILED) with the models' states until then."""
        spent = await run_in_threadpool(state.store.credits_spent)
        readiness = state.readiness
        states = readiness.states()
        body = {"status": "ok", "version": __version__, "local": True, "device": state.device,
                "models": state.catalog.slugs, "uptime_s": round(time.time() - state.started, 3),
                "auth": bool(state.api_key),
                "credits": {"balance": state.config.credits, "used": round(spent, 8)},
                "ready": readiness.ready, "model_states": states,
                "loading": [s for s in readiness.preload if states[s] == "loading"]}
        if body["ready"]:
            return body
        failed = readiness.errors()
        if body["loading"]:
            raise ApiError(503, "MODELS_LOADING", f"The server is loading {', '.join(body['loading'])}; it "
                           "answers 200 here once every model it loads at start is ready.",
                           {**body, "status": "loading", "failed": failed}, response="Models loading")
        raise ApiError(503, "MODELS_FAILED", "Loading " + "; ".join(f"{k} failed ({v})" for k, v in failed.items())
                       + ". A request for the model tries to load it again.",
                       {**body, "status": "failed", "failed": failed}, response="Models failed to load")

    @open_routes.get("/health/live", tags=["status"])
    async def live():
        """Liveness: 200 while the server answers, models loading or not."""
        return {"status": "alive", "version": __version__, "uptime_s": round(time.time() - state.started, 3)}

    @open_routes.get("/files/{prediction_id}/{filename}", tags=["files"])
    async def files(prediction_id: str, filename: str):
        missing = ApiError(404, "FILE_NOT_FOUND", f"No output file {shown(filename)!r} for prediction "
                           f"{shown(prediction_id)}.", response="File not found")
        # NUL bytes and segments past a file name's length cannot name an output (and would make the OS call
        # fail with the server's path in the message)
        if any("\x00" in s or len(s.encode("utf-8", "surrogatepass")) > 255 for s in (prediction_id, filename)):
            raise missing
        root = state.store.outputs_root.resolve()
        try:
            folder = state.store.outputs_dir(prediction_id).resolve()
            path = (folder / filename).resolve()
            # both segments must stay where they point: `..` or `.` (sent percent-encoded) must not climb out
            found = folder.parent == root and path.parent == folder and path.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise missing
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    # models --------------------------------------------------------------------------------------

    @api.get("/models", tags=["models"])
    async def list_models(request: Request):
        params = request.query_params
        models = state.catalog.list(parse_fields(params.getlist("fields")), params.get("type") or None)
        if "page" not in params and "per_page" not in params:
            return models  # the bare array the official SDKs parse
        # paged as every list endpoint: {data, pagination}, per_page 15 by default, at most 50
        from skytells_lab.local.predictions import DEFAULT_PER_PAGE, MAX_PER_PAGE, _int_param

        page = _int_param(params, "page", 1, lo=1)
        per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE, lo=1, hi=MAX_PER_PAGE)
        return {"data": models[(page - 1) * per_page: page * per_page],
                "pagination": {"current_page": page, "per_page": per_page, "total": len(models),
                               "last_page": max(1, -(-len(models) // per_page))}}

    @api.get("/models/{slug:path}", tags=["models"])
    @api.get("/model/{slug:path}", tags=["models"])
    async def get_model(slug: str, request: Request):
        request.state.model = state.catalog.local_slug(slug)
        return state.catalog.model_object(slug, parse_fields(request.query_params.getlist("fields")))

    # predictions ---------------------------------------------------------------------------------

    @api.post("/predictions", tags=["predictions"], status_code=201, openapi_extra=_PREDICTION_BODY)
    @api.post("/predict", tags=["predictions"], status_code=201, openapi_extra=_PREDICTION_BODY)
    async def create_prediction(request: Request):
        body = await read_body(request)
        rec = await run_in_threadpool(state.predictions.create, body)
        if isinstance(body, dict) and body.get("await") is True:
            await state.predictions.wait(rec["id"], state.config.await_timeout)
            rec = await run_in_threadpool(state.predictions.get, rec["id"])
        return prediction_response(rec, base_url(request), 201)

    @api.get("/predictions", tags=["predictions"])
    async def list_predictions(request: Request):
        rows, pagination = await run_in_threadpool(state.predictions.list, request.query_params)
        base = base_url(request)
        data = [render(r, base) for r in rows]
        try:
            if not any(r.get("unreadable") for r in rows):
                return JSONResponse({"data": data, "pagination": pagination})
        except (ValueError, UnicodeEncodeError):  # a row an older version stored: shown marked, not a 500
            pass
        data = [marked(r, d) if unreadable_fields(r, d) else d for r, d in zip(rows, data)]
        return JSONResponse({"data": data, "pagination": pagination})

    @api.get("/predictions/{prediction_id}", tags=["predictions"])
    async def get_prediction(prediction_id: str, request: Request):
        # the hottest route (every poll): a primary-key read on this thread's WAL reader takes microseconds and
        # never waits for a writer, so it runs inline, and a JSONResponse skips FastAPI's re-encoding walk
        return prediction_response(state.predictions.get(prediction_id), base_url(request))

    @api.get("/predictions/{prediction_id}/stream", tags=["predictions"])
    async def stream_prediction(prediction_id: str, request: Request):
        rec = await run_in_threadpool(state.predictions.get, prediction_id)
        if "text/event-stream" not in request.headers.get("accept", ""):
            return prediction_response(rec, base_url(request))
        return StreamingResponse(_prediction_events(state, prediction_id, base_url(request)),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    @api.post("/predictions/{prediction_id}/cancel", tags=["predictions"])
    async def cancel_prediction(prediction_id: str, request: Request):
        rec = await run_in_threadpool(state.predictions.cancel, prediction_id)
        # the prediction (what the SDKs expect) plus `success` (what the docs and the CLI expect)
        return prediction_response(rec, base_url(request), extra={"success": True})

    @api.delete("/predictions/{prediction_id}", tags=["predictions"])
    @api.delete("/predictions/{prediction_id}/delete", tags=["predictions"])
    async def delete_prediction(prediction_id: str):
        await run_in_threadpool(state.predictions.delete, prediction_id)
        return {"success": True, "id": prediction_id, "message": "Prediction deleted"}

    # inference -----------------------------------------------------------------------------------

    @api.post("/chat/completions", tags=["inference"], openapi_extra=_CHAT_BODY)
    async def chat_completions(request: Request):
        body = await read_body(request)
        if _wants_stream(body, request):
            prepared = await run_in_threadpool(state.inference.chat_prepare, body)
            return StreamingResponse(state.inference.chat_stream(prepared, body), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        return await run_in_threadpool(state.inference.chat_complete, body)

    @api.post("/responses", tags=["inference"], openapi_extra=_RESPONSES_BODY)
    async def responses(request: Request):
        body = await read_body(request)
        if _wants_stream(body, request):
            prepared = await run_in_threadpool(state.inference.responses_prepare, body)
            return StreamingResponse(state.inference.responses_stream(prepared), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        return await run_in_threadpool(state.inference.responses_create, body)

    @api.post("/embeddings", tags=["inference"], openapi_extra=_EMBEDDINGS_BODY)
    async def embeddings(request: Request):
        body = await read_body(request)
        result = await run_in_threadpool(state.inference.embeddings, _require_object(body))
        state.metrics.observe_embeddings(request.state.model or "", len(result["data"]),
                                         result["usage"]["prompt_tokens"])
        # a JSONResponse: FastAPI's encoder would walk every float of every vector once more
        return JSONResponse(result)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request):
        # open as /v1/health is (scrapers send no key, as for TEI and vLLM), behind the Host/Origin guard;
        # `[server] metrics_require_key = true` asks for the API key here too
        if state.config.metrics_require_key:
            check_key(state.api_key, request.headers)
        content, media_type = state.metrics.exposition(request.headers.get("accept"))
        return Response(content, media_type=media_type)

    app.include_router(open_routes)
    app.include_router(api)
    if state.config.allow_origins:  # allowed web apps also need CORS answers (preflights, readable responses)
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(state.config.allow_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["x-request-id"])
    from skytells_lab.local.server import is_loopback_host

    hosts = [*state.config.allowed_hosts, urllib.parse.urlsplit(state.predictions.public_url).hostname or ""]
    app.add_middleware(BrowserGuardMiddleware, check_host=is_loopback_host(state.host), allowed_hosts=hosts,
                       allow_origins=state.config.allow_origins, render=render_error)
    app.add_middleware(RequestContextMiddleware, limit=state.config.max_body_bytes, render=render_error)
    import logging

    app.add_middleware(ObservabilityMiddleware, metrics=state.metrics,
                       access_log=logging.getLogger(ACCESS_LOGGER) if state.access_log else None)
    return app


def prediction_response(rec: dict, base: str, status: int = 200, extra: dict | None = None) -> JSONResponse:
    """The prediction as JSON; a row an older version stored with NaN or invalid Unicode answers 422
    PREDICTION_UNREADABLE instead of failing to render (500)."""
    body = render(rec, base)
    try:
        if not rec.get("unreadable"):
            return JSONResponse({**body, **(extra or {})}, status)
    except (ValueError, UnicodeEncodeError):
        pass
    raise unreadable_prediction(rec, unreadable_fields(rec, body))


def _require_object(body):
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_REQUEST", "The request body must be a JSON object.", param="body")
    return body


def _wants_stream(body, request: Request) -> bool:
    _require_object(body)
    stream = body.get("stream", request.query_params.get("stream") == "true")
    if not isinstance(stream, bool):
        raise ApiError(400, "INVALID_PARAMETER", "'stream' must be true or false", param="stream")
    return stream


async def _prediction_events(state: ServerState, prediction_id: str, base: str):
    """SSE of the prediction object on every change, then `event: done` once it is terminal."""
    last = None
    while True:
        rec = await run_in_threadpool(state.store.get, prediction_id)
        if rec is None:
            return
        shown = render(rec, base)
        fields = unreadable_fields(rec, shown)
        if fields:
            yield f"event: error\ndata: {json.dumps(unreadable_prediction(rec, fields).rest_body())}\n\n"
            return
        if shown != last:
            yield f"event: prediction\ndata: {json.dumps(shown)}\n\n"
            last = shown
        if rec["status"] in TERMINAL:
            yield "event: done\ndata: {}\n\n"
            return
        await asyncio.sleep(0.25)
