"""Every API operation written once, as a generator both clients drive.

An operation yields :class:`Call` (and receives the parsed body, or has the error thrown into it) or
:class:`Sleep`, and returns its typed result. ``Skytells`` drives it with blocking I/O and ``time.sleep``;
``AsyncSkytells`` with ``await``. Multi-step logic (route fallbacks, waiting, cancel-then-fetch) thus exists
once for both twins.
"""

from __future__ import annotations

import mimetypes
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from skytells_lab._media import decode_data_uri
from skytells_lab.api import _media, _store
from skytells_lab.api import errors as E
from skytells_lab.api._http import Call, Sleep
from skytells_lab.api._inference_types import ChatCompletion, EmbeddingResponse, Response
from skytells_lab.api._status import PredictionStatus
from skytells_lab.api._types import BackendStatus, Model, ModelPage, Prediction, PredictionPage

Op = Generator[Any, Any, Any]

MAX_PER_PAGE = 50
MAX_POLL_INTERVAL = 5.0
MAX_FILE_REDIRECTS = 5


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _route_missing(err: E.SkytellsError) -> bool:
    """A 404/405 that means "no such route" rather than "no such model/prediction"."""
    if err.http_status == 405:
        return True
    return err.http_status == 404 and err.error_id in ("ENDPOINT_NOT_FOUND", "NOT_FOUND", "HTTP_ERROR", "API_ERROR")


def _first_route(*calls: Call) -> Op:
    """Try each spelling of a route the service and SDKs disagree on (wire-protocol §1.1)."""
    first_error: E.SkytellsError | None = None
    for call in calls:
        try:
            return (yield call)
        except E.SkytellsError as err:
            if not _route_missing(err):
                raise
            first_error = first_error or err
    assert first_error is not None
    raise first_error


def bind(client: Any, prediction: Prediction) -> Prediction:
    prediction._client = client
    return prediction


def _prediction(client: Any, body: Any) -> Prediction:
    if isinstance(body, dict) and isinstance(body.get("data"), dict) and "id" not in body:
        body = body["data"]
    if not isinstance(body, dict) or body.get("id") is None:
        raise E.InvalidJSONError(f"expected a prediction object, got {str(body)[:120]!r}", http_status=200)
    return bind(client, Prediction.model_validate(body))


# --------------------------------------------------------------------------- models


def list_models(type: str | None = None, fields: Any = None, page: int | None = None,
                per_page: int | None = None) -> Op:
    params = {"type": type, "fields": _fields(fields)}
    if page is not None or per_page is not None:
        page, per_page = page or 1, per_page or 15
        _check_page(page, per_page)
        body = yield Call("GET", "/models", kind="models.list", params={**params, "page": page, "per_page": per_page})
        return ModelPage.from_wire(body, page=page, per_page=per_page)  # the server filters by type
    body = yield Call("GET", "/models", kind="models.list", params=params)
    items = body if isinstance(body, list) else (body or {}).get("data") or (body or {}).get("models") or []
    models = [Model.model_validate(item) for item in items]
    return [m for m in models if type is None or m.type == type]


def get_model(slug: str, fields: Any = None) -> Op:
    params = {"fields": _fields(fields)}
    body = yield from _first_route(
        Call("GET", f"/models/{_seg(slug)}", kind="models.get", model=slug, params=params),
        Call("GET", f"/model/{_seg(slug)}", kind="models.get", model=slug, params=params),
    )
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    return Model.model_validate(body)


def _fields(fields: Any) -> str | None:
    if fields is None:
        return None
    return fields if isinstance(fields, str) else ",".join(fields)


# --------------------------------------------------------------------------- predictions


CATALOG_TTL = 600.0  # the TS SDK's PREFETCHED_MODEL_CACHE_TTL_MS: a model's entry is re-read after 10 minutes
CATALOG_MAX = 64
INFERENCE_ONLY = {"chat", "responses", "chat-completions", "embeddings", "embedding", "vision", "tools"}


def catalog_entry(client: Any, model: str) -> Op:
    """The model's catalog entry with its input schema, fetched once per client (10 minutes, 64 slugs), or
    None when the lookup fails (the create then reports an unknown model in its own words)."""
    cache = client._state.catalog
    hit = cache.get(model)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    try:
        entry = yield from get_model(model, fields=["input_schema"])
    except (E.NetworkError, E.APITimeoutError, E.ServerError, E.RateLimitError):
        return None  # not an answer about the model: ask again next time
    except E.SkytellsError:
        entry = None
    cache.pop(model, None)
    cache[model] = (entry, time.monotonic() + CATALOG_TTL)
    while len(cache) > CATALOG_MAX:
        cache.pop(next(iter(cache)))
    return entry


def inference_only_call(entry: Model | None) -> str | None:
    """The call that serves a model the predictions API does not (chat-only, embeddings-only), else None."""
    if entry is None:
        return None
    caps = {str(c).lower() for c in entry.capabilities}
    if caps and caps <= INFERENCE_ONLY and caps & {"embeddings", "embedding"} and not caps & {"chat", "responses"}:
        return "client.embeddings.create(model=...) or client.embed(texts, model=...)"
    if (entry.metadata or {}).get("openai_compatible") or (caps and caps <= INFERENCE_ONLY):
        return "client.chat.completions.create(model=..., messages=[...]) or client.responses.create(model=..., input=...)"
    return None


def check_compatible(client: Any, model: str) -> Op:
    """Refuse, before sending, a model that the catalog says the inference sub-APIs serve (TS SDK 1.0.5's
    compatibilityCheck); return its entry."""
    entry = yield from catalog_entry(client, model)
    call = inference_only_call(entry)
    if call is not None:
        raise E.InvalidInputError(
            f"model {model!r} is served by the inference API, not predictions: use {call}; nothing was sent "
            "(pass compatibility_check=False to send it anyway)",
            error_id="SDK_ERROR", details={"model": model, "type": entry.type, "capabilities": entry.capabilities})
    return entry


def prepare_input(client: Any, model: str, input: dict | None) -> Op:
    """Media objects (PIL, numpy, paths, bytes) in ``input`` as data URIs; the model's input schema is
    fetched (once per client) only when a value needs it (a path string, or a media object's size cap)."""
    input = dict(input or {})
    if not _media.needs_schema(input):
        return _media.coerce_input(input, None)
    entry = yield from catalog_entry(client, model)
    return _media.coerce_input(input, lambda: entry.input_schema if entry is not None else None)


def create_prediction(client: Any, model: str, input: dict | None, *, webhook: Any = None, stream: bool = False,
                      await_: bool = False, timeout: float | None = None, compatibility_check: bool = True,
                      **extra: Any) -> Op:
    if compatibility_check:
        yield from check_compatible(client, model)
    input = yield from prepare_input(client, model, input)
    body: dict[str, Any] = {"model": model, "input": input, **extra}
    if webhook is not None:
        body["webhook"] = {"url": webhook} if isinstance(webhook, str) else webhook
    if stream:
        body["stream"] = True
    if await_:
        body["await"] = True
    # the service blocks on await: give the read the time the prediction may take
    call_timeout = timeout if timeout is not None else (max(client.timeout or 0, 600.0) if await_ else None)
    calls = [Call("POST", path, kind="predictions.create", json=body, model=model, resend_safe=False,
                  timeout=call_timeout) for path in ("/predictions", "/predict")]
    result = yield from _first_route(*calls)
    return _prediction(client, result)


def get_prediction(client: Any, id: str) -> Op:
    body = yield Call("GET", f"/predictions/{_seg(id)}", kind="predictions.get")
    return _prediction(client, body)


def _check_page(page: Any, per_page: Any) -> None:
    for name, value, hi in (("page", page, None), ("per_page", per_page, MAX_PER_PAGE)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (hi is not None and value > hi):
            bounds = f"between 1 and {hi}" if hi else "an integer >= 1"
            raise ValueError(f"{name} must be {bounds}, got {value!r}")


def list_predictions(client: Any, page: int = 1, per_page: int = 15, model: str | None = None, since: Any = None,
                     until: Any = None, status: Any = None) -> Op:
    _check_page(page, per_page)
    params = {"page": page, "per_page": per_page, "model": model, "from": _day(since), "to": _day(until),
              "status": str(status.value if isinstance(status, PredictionStatus) else status) if status else None}
    body = yield Call("GET", "/predictions", kind="predictions.list", params=params, model=model)
    result = PredictionPage.from_wire(body, page=page, per_page=per_page)
    for p in result.data:
        bind(client, p)
    return result


def _day(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m-%d")
    return str(value)


def cancel_prediction(client: Any, id: str) -> Op:
    body = yield Call("POST", f"/predictions/{_seg(id)}/cancel", kind="predictions.cancel")
    if isinstance(body, dict) and body.get("id") is not None:
        return _prediction(client, body)
    # the learn docs' cancel answers {"success": true}: fetch the prediction it cancelled
    return (yield from get_prediction(client, id))


def delete_prediction(id: str) -> Op:
    yield from _first_route(
        Call("DELETE", f"/predictions/{_seg(id)}", kind="predictions.delete"),
        Call("DELETE", f"/predictions/{_seg(id)}/delete", kind="predictions.delete"),
    )


@dataclass(frozen=True)
class State:
    """A step of :func:`watch_prediction`: a state of the prediction as fetched (no I/O to do)."""

    prediction: Prediction


CANCEL_CHECK_S = 0.1  # how often a pause between polls looks at ``cancel``


def _cancel_check(cancel: Any) -> Callable[[], bool] | None:
    if cancel is None:
        return None
    if hasattr(cancel, "is_set"):  # a threading.Event (or an asyncio.Event, read without waiting)
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError(f"cancel must be a threading.Event or a callable returning bool, got {type(cancel).__name__}")


def _pause(seconds: float, cancelled: Callable[[], bool] | None) -> Op:
    if cancelled is None:
        yield Sleep(seconds)
        return
    end = time.monotonic() + seconds
    while not cancelled() and (left := end - time.monotonic()) > 0:
        yield Sleep(min(left, CANCEL_CHECK_S))


def watch_prediction(client: Any, prediction: Any, timeout: float | None = None, poll_interval: float = 0.5,
                     cancel: Any = None) -> Op:
    """Poll until terminal, backing off from ``poll_interval`` to 5 s, yielding :class:`State` for each state
    fetched; raise WaitTimeout at the deadline. When ``cancel`` (an Event or a callable) turns true, the
    prediction is cancelled on the server once and followed to its terminal state."""
    cancelled = _cancel_check(cancel)
    current = prediction if isinstance(prediction, Prediction) else None
    pid = current.id if current is not None else str(prediction)
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = max(0.01, poll_interval)
    cancel_sent = False
    if current is None or not current.is_terminal:
        current = yield from get_prediction(client, pid)
    yield State(current)
    while not current.is_terminal:
        if cancelled is not None and not cancel_sent and cancelled():
            current, cancel_sent = (yield from cancel_prediction(client, pid)), True
            yield State(current)
            continue
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise E.WaitTimeout(
                f"prediction {pid} is still {current.status} after {timeout:g}s; it goes on on the server: "
                f"resume with client.predictions.wait({pid!r}) or stop it with client.predictions.cancel({pid!r})",
                prediction_id=pid,
                prediction=current,
            )
        yield from _pause(interval if left is None else min(interval, left), None if cancel_sent else cancelled)
        interval = min(interval * 1.5, MAX_POLL_INTERVAL)
        current = yield from get_prediction(client, pid)
        yield State(current)
    return bind(client, current)


WAITS = ("poll", "await", "auto")


def run(client: Any, model: str, input: dict | None, *, timeout: float | None = None,
        poll_interval: float = 0.5, wait: str = "poll", compatibility_check: bool = True,
        cache: bool | None = None, **create_kw: Any) -> Op:
    if wait not in WAITS:
        raise ValueError(f"wait must be one of {', '.join(map(repr, WAITS))}, got {wait!r}")
    if compatibility_check:
        entry = yield from check_compatible(client, model)
    else:
        entry = (yield from catalog_entry(client, model)) if wait == "auto" else None
    if wait == "await" or (wait == "auto" and entry is not None and entry.type == "image"):
        # one round trip: the server answers when the prediction is done (TS SDK 1.0.5's autoAwait)
        create_kw["await_"] = True
    input = yield from prepare_input(client, model, input)
    # a seeded prediction is reproducible: the result store (client.cache) answers a repeat
    cached = (input.get("seed") is not None if cache is None else cache) and not create_kw.get("webhook") \
        and not create_kw.get("stream")
    identity = None
    if cached and client.cache is not None and client.cache.enabled:
        # the key holds what answers (backend version, catalog entry, weights): never another server's result
        identity = yield from model_identity(client, model)
        hit = _store.cached_prediction(client, model, input, identity)
        if hit is not None:
            return hit
    if create_kw.get("await_"):
        create_kw.setdefault("timeout", timeout)
    prediction = yield from create_prediction(client, model, input, compatibility_check=False, **create_kw)
    # an awaited create that came back unfinished (the server's await limit, a video model) is polled on
    prediction = yield from watch_prediction(client, prediction, timeout=timeout, poll_interval=poll_interval)
    if prediction.status != PredictionStatus.SUCCEEDED:
        raise prediction_failed(prediction)
    _store.store_prediction(client, model, input, prediction, identity)
    return prediction


# catalog fields that change while the same weights answer: a first call loads them, an operator pauses them
_VOLATILE_METADATA = ("cold_boot",)
_VOLATILE_FIELDS = ("status",)


def model_identity(client: Any, model: str) -> Op:
    """What identifies the model that would answer ``model`` on ``client``, for result-store keys: the base
    URL, the backend's version (``GET /health`` on the local server) and the model's catalog entry (for the
    local server it names the alias target in ``namespace`` and carries a fingerprint of the weights; for the
    service, its version and update time where the entry has them). ``None`` when the catalog does not
    answer: then nothing is read from or written to the store."""
    try:
        entry = yield from get_model(model, fields=["input_schema"])
    except (E.SkytellsError, ValueError):  # no such model, no catalog, or a body that is not a model
        return None
    version = None
    if getattr(client, "is_local", False):
        try:
            health = yield Call("GET", "/health", kind="status", max_retries=1)
        except E.SkytellsError:
            return None
        version = health.get("version") if isinstance(health, dict) else None
    described = entry.model_dump(mode="json", exclude_none=True)
    for name in _VOLATILE_FIELDS:
        described.pop(name, None)
    metadata = dict(described.get("metadata") or {})
    for name in _VOLATILE_METADATA:
        metadata.pop(name, None)
    described["metadata"] = metadata
    return {"base_url": str(client.base_url or ""), "backend_version": version, "model": described}


def prediction_failed(prediction: Prediction) -> E.PredictionFailed:
    """The third error shape: a prediction that came back (HTTP 200) failed or cancelled."""
    reason = prediction.error or f"prediction {prediction.status}"
    return E.PredictionFailed(
        f"prediction {prediction.id} ({prediction.model}) {prediction.status}: {reason}",
        prediction=prediction,
        http_status=200,
        details={"prediction_id": prediction.id, "status": str(prediction.status), "error": prediction.error},
    )


def fetch_file(url: str, base_url: str) -> Op:
    """An output file's bytes (relative URLs resolve against the API; the key goes only to its origin).

    Files may sit behind a redirect to storage: up to ``MAX_FILE_REDIRECTS`` are followed here, each hop a
    new request that carries the key only when it goes to the API's own origin, and never from https to http.
    """
    if not url.startswith(("http://", "https://")):
        url = str(httpx.URL(base_url + "/").join(url))
    for hop in range(MAX_FILE_REDIRECTS + 1):
        try:
            return (yield Call("GET", url, kind="files", expect="bytes"))
        except E.RedirectError as err:
            target = getattr(err, "_target", None)
            downgrade = url.startswith("https://") and not (target or "").startswith("https://")
            if target is None or hop == MAX_FILE_REDIRECTS or downgrade or not target.startswith("http"):
                raise
            url = target
    raise AssertionError("unreachable")


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(url: str, index: int, data: bytes) -> str:
    """A safe file name for an output: the URL's last path segment (no folders, no hidden names), else
    ``output-<i>`` with an extension from the bytes."""
    name = "" if url.startswith("data:") else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = _UNSAFE_NAME.sub("_", name).strip("._")[:120]
    if not name or "." not in name:
        ext = mimetypes.guess_extension(_media.sniff_mime(data) or "") or ""
        name = (name or f"output-{index}") + ext
    return name


def _free_path(folder: Path, name: str, data: bytes) -> Path:
    """``folder/name``, or ``name-1``... when another file holds it; the same bytes already there are reused."""
    path, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 0
    while path.exists() and not (path.is_file() and path.read_bytes() == data):
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def download_outputs(client: Any, prediction: Prediction, folder: Any, progress: bool | None = None) -> Op:
    """Save every output file of ``prediction`` under ``folder``; the paths, in output order."""
    from tqdm.auto import tqdm

    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    urls = list(prediction.outputs)
    show = progress if progress is not None else len(urls) > 3
    paths = []
    with tqdm(total=len(urls), unit="file", desc=f"download {prediction.id}", disable=not show) as bar:
        for i, url in enumerate(urls):
            if url.startswith("data:"):
                data = decode_data_uri(url)[0]
            else:
                data = yield from fetch_file(url, client.base_url)
            path = _free_path(folder, _file_name(url, i, data), data)
            path.write_bytes(data)
            paths.append(path)
            bar.update()
    return paths


# --------------------------------------------------------------------------- inference (non-streaming)


def chat_completion(model: str, messages: list, params: dict) -> Op:
    body = yield Call("POST", "/chat/completions", kind="chat.completions", inference=True, resend_safe=False,
                      model=model, json={"model": model, "messages": messages, **params})
    return ChatCompletion.model_validate(body)


def response(model: str, input: Any, params: dict) -> Op:
    body = yield Call("POST", "/responses", kind="responses", inference=True, resend_safe=False, model=model,
                      json={"model": model, "input": input, **params})
    return Response.model_validate(body)


def embeddings(model: str, input: Any, encoding_format: str = "base64", dimensions: int | None = None,
               **params: Any) -> Op:
    payload = {"model": model, "input": input, "encoding_format": encoding_format, **params}
    if dimensions is not None:
        payload["dimensions"] = dimensions
    body = yield Call("POST", "/embeddings", kind="embeddings", inference=True, resend_safe=False, model=model,
                      json=payload)
    if not isinstance(body, dict):
        raise E.InvalidJSONError("expected an embeddings list object", http_status=200)
    return EmbeddingResponse.from_wire(body)


# --------------------------------------------------------------------------- backend status


def backend_status(client: Any) -> Op:
    """Health of the backend: ``GET /health`` where served (the local server), else ``GET /models``."""
    info = BackendStatus(reachable=False, version=None, local=client.is_local, device=None, base_url=client.base_url)
    started = time.monotonic()
    try:
        body = yield Call("GET", "/health", kind="status", max_retries=1)
        if isinstance(body, dict):
            info.update({k: v for k, v in body.items() if k in _HEALTH_FIELDS})
        info["reachable"] = True
    except (E.NotFoundError, E.InvalidInputError, E.InvalidJSONError):
        try:
            yield Call("GET", "/models", kind="status", max_retries=1)
            info["reachable"] = True
        except (E.AuthenticationError, E.PermissionDeniedError) as err:
            info.update(reachable=True, error=str(err))
        except E.SkytellsError as err:
            info["error"] = str(err)
    except (E.AuthenticationError, E.PermissionDeniedError) as err:
        info.update(reachable=True, error=str(err))
    except E.SkytellsError as err:
        if err.error_id in ("MODELS_LOADING", "MODELS_FAILED") and isinstance(err.details, dict):
            # the local server is up, its models are not all loaded yet (503 from /health)
            info.update({k: v for k, v in err.details.items() if k in _HEALTH_FIELDS}, reachable=True)
        info["error"] = str(err)
    info.setdefault("ready", bool(info["reachable"]) and "error" not in info)
    info.setdefault("loading", [])
    info["latency_s"] = round(time.monotonic() - started, 4)
    return info


_HEALTH_FIELDS = ("version", "device", "local", "models", "ready", "loading", "model_states")
