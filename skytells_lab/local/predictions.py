"""Predictions: the service object (create, get, list, cancel, delete) and the wire shape of a prediction."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from skytells_lab.local.catalog import Catalog, credits_for
from skytells_lab.local.config import ServerConfig
from skytells_lab.local.errors import ApiError, bad_request, validation_error
from skytells_lab.local.media import resolve_media
from skytells_lab.local.store import ACTIVE, TERMINAL, Store
from skytells_lab.local.validation import validate_input
from skytells_lab.local.webhooks import WebhookDispatcher, normalize_webhook
from skytells_lab.local.wire_values import sanitized, shown, unrenderable_paths
from skytells_lab.local.worker import PredictionWorker, TerminalSignals

PREDICTION_CAPABILITIES = {"text-to-image", "image-to-image", "text-to-video", "image-to-video", "text-to-audio",
                           "text-to-music", "text-to-speech", "upscale", "prediction"}
DEFAULT_PER_PAGE, MAX_PER_PAGE = 15, 50
MAX_PAGE = 10**9  # offsets stay far inside sqlite's 64-bit integers
# servers alive in this process: their unfinished predictions are not orphans
_LIVE_OWNERS: set[str] = set()
_OWNERS_LOCK = threading.Lock()


def micro_z(ts: float | None) -> str | None:
    """The service's `2026-03-04T21:20:58.000000Z` form (created_at, updated_at)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def offset_form(ts: float | None) -> str | None:
    """The service's `2026-03-04T21:20:58+00:00` form (started_at, completed_at)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0).isoformat()


def render(rec: dict, base_url: str) -> dict:
    """The prediction object exactly as the service shapes it, with absolute URLs under `base_url`."""
    pid = rec["id"]
    api = f"{base_url}/v1/predictions/{pid}"
    files_url = f"{base_url}/v1/files/{pid}/"
    files = [{**f, "url": files_url + urllib.parse.quote(f["name"])} for f in rec.get("files") or []]
    output = [files_url + urllib.parse.quote(n) for n in rec["output"]] if rec.get("output") is not None else None
    metrics = dict(rec.get("metrics") or {})
    if rec.get("predict_time") is not None:
        metrics["predict_time"] = round(rec["predict_time"], 4)
    if rec.get("completed") is not None:
        metrics["total_time"] = round(rec["completed"] - rec["created"], 4)
    if rec.get("progress") is not None:
        metrics["progress"] = rec["progress"]
    metadata = {**(rec.get("metadata") or {}), "billing": {"credits_used": rec.get("credits") or 0.0},
                "storage": {"files": files}, "data_available": output is not None}
    body = {
        "id": pid, "status": rec["status"], "type": "inference", "stream": bool(rec.get("stream")),
        "input": rec["input"], "output": output, "error": rec.get("error"),
        "created_at": micro_z(rec["created"]), "started_at": offset_form(rec.get("started")),
        "completed_at": offset_form(rec.get("completed")), "updated_at": micro_z(rec["updated"]),
        "privacy": "private", "source": rec.get("source") or "api",
        "model": {"name": rec["model"], "type": rec["model_type"]},
        "webhook": rec.get("webhook") or {"url": None, "events": []},
        "metrics": metrics, "metadata": metadata,
        "urls": {"get": api, "cancel": f"{api}/cancel", "stream": f"{api}/stream", "delete": f"{api}/delete"},
    }
    if rec["status"] == "failed":
        body["response"] = rec.get("error")
    return body


UNREADABLE = "PREDICTION_UNREADABLE"


def unreadable_fields(rec: dict, body: dict) -> list[str]:
    """The fields of a stored prediction no response can carry (an older version stored NaN, a lone
    surrogate, or a column that no longer parses); [] for every row this version writes."""
    return list(rec.get("unreadable") or []) + [path for path, _ in unrenderable_paths(body)]


def unreadable_prediction(rec: dict, fields: list[str]) -> ApiError:
    """422 PREDICTION_UNREADABLE: what GET answers for a stored row that cannot be rendered."""
    return ApiError(422, UNREADABLE,
                    f"Prediction {rec['id']} was stored by an older version with values JSON cannot carry "
                    f"({', '.join(fields[:5])}). It cannot be shown; delete it (DELETE /v1/predictions/{rec['id']})"
                    " and create it again.",
                    {"id": rec["id"], "fields": fields, "status": rec.get("status")},
                    response="Prediction cannot be shown")


def marked(rec: dict, body: dict) -> dict:
    """A list entry for an unreadable row: what can be shown of it, and `unreadable` saying what is missing."""
    fields = unreadable_fields(rec, body)
    clean = sanitized(body)
    clean["unreadable"] = {"error_id": UNREADABLE, "fields": fields,
                           "message": "stored with values JSON cannot carry (NaN, Infinity or invalid "
                                      "Unicode); shown as null or U+FFFD. Delete it and create it again."}
    return clean


def unknown_prediction(prediction_id: str) -> ApiError:
    # The service answers 502 for an id it does not know, not 404.
    return ApiError(502, "PREDICTION_FAILED", "Prediction serving returned an error.",
                    {"id": prediction_id, "reason": "no prediction with this id"},
                    response="Error fetching prediction")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed child not yet reaped is a zombie: its work is gone all the same
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_orphan(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return True
    pid, _ = owner.split(":", 1)
    if int(pid) == os.getpid():
        with _OWNERS_LOCK:
            return owner not in _LIVE_OWNERS
    return not _pid_alive(int(pid))


class PredictionService:
    def __init__(self, store: Store, catalog: Catalog, config: ServerConfig, device: str,
                 dispatcher: WebhookDispatcher, public_url: str):
        self.store, self.catalog, self.config = store, catalog, config
        self.dispatcher = dispatcher
        self.public_url = public_url
        self.signals = TerminalSignals()
        self.worker = PredictionWorker(store, device, self._on_transition, config.workers)
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        self.webhook_allow_loopback = True  # build_state: False when the server is bound off loopback
        self._admission = threading.Lock()
        self._reserved = 0  # creates between their capacity check and their submit
        self._reservations: dict[str, float] = {}  # prediction id -> credits held until it ends
        self._credits_lock = threading.Lock()
        self.observers: list = []  # callables (event, record) told of every transition, e.g. the server's metrics

    def start(self) -> list[str]:
        """Fail what a crashed or stopped server left unfinished, then start the worker."""
        with _OWNERS_LOCK:
            _LIVE_OWNERS.add(self.owner)
        recovered = self.store.fail_unfinished(
            _is_orphan, "The local server stopped (crash or shutdown) before this prediction finished; "
                        "create it again.")
        self.worker.start()
        return recovered

    def stop(self) -> None:
        with _OWNERS_LOCK:
            _LIVE_OWNERS.discard(self.owner)
        self.worker.stop()
        self.store.fail_unfinished(lambda owner: owner == self.owner,
                                   "The local server was shut down before this prediction finished; "
                                   "create it again.")

    # transitions -------------------------------------------------------------------------------

    def _on_transition(self, event: str, prediction_id: str) -> None:
        rec = self.store.get(prediction_id)
        if rec is None:
            return
        self._observe(event, rec)
        if rec["status"] in TERMINAL:
            self._release(prediction_id)  # after the worker charged a success: never a moment uncounted
            self.signals.notify(prediction_id)
        self.dispatcher.emit(event, render(rec, self.public_url))

    def _observe(self, event: str, rec: dict) -> None:
        for observer in self.observers:
            observer(event, rec)

    # operations ---------------------------------------------------------------------------------

    def check_budget(self, cost: float = 0.0) -> None:
        """402 INSUFFICIENT_CREDITS when what is spent, plus what unfinished predictions reserved, plus `cost`
        passes the balance (with `cost` 0: when nothing is left)."""
        if self.config.credits is None:
            return
        spent = self.store.credits_spent()
        reserved = sum(self._reservations.values())
        committed = spent + reserved
        if committed + cost > self.config.credits + 1e-9 or committed >= self.config.credits - 1e-12:
            raise ApiError(402, "INSUFFICIENT_CREDITS",
                           f"Insufficient credits: {spent:.4f} of the {self.config.credits:.4f} credit "
                           f"balance of this local server are used and {reserved:.4f} are reserved by "
                           f"unfinished predictions; this one needs {cost:.4f}.",
                           {"credits_used": spent, "credits_reserved": reserved, "credits_needed": cost,
                            "credits": self.config.credits},
                           response="Insufficient credits")

    def _reserve(self, prediction_id: str, cost: float) -> None:
        """Hold `cost` of the balance for a prediction until it ends, so concurrent creates cannot overspend."""
        if self.config.credits is None:
            return
        with self._credits_lock:
            self.check_budget(cost)
            self._reservations[prediction_id] = cost

    def _release(self, prediction_id: str) -> None:
        with self._credits_lock:
            self._reservations.pop(prediction_id, None)

    def create(self, body) -> dict:
        if not isinstance(body, dict):
            raise validation_error("body", "expected a JSON object", 'Send {"model": "...", "input": {...}}.')
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise validation_error("model", "this field is required", "Send the model slug, e.g. \"digits-diffusion\".")
        if body.get("input") is None:
            raise validation_error("input", "this field is required", 'Send "input": {...} with the model\'s fields.')
        for flag in ("await", "stream"):
            if not isinstance(body.get(flag, False), bool):
                raise validation_error(flag, "expected true or false", f'Send "{flag}": true or false.')
        resolved = self.catalog.resolve(model)
        caps = set(resolved.entry.get("capabilities", []))
        if not hasattr(resolved.runner, "predict"):
            route = "/v1/embeddings" if "embeddings" in caps else "/v1/chat/completions"
            raise ApiError(422, "MODEL_NOT_SUPPORTED",
                           f"Model '{model}' is served by the inference API, not predictions: use {route}.",
                           {"model": model, "capabilities": sorted(caps)}, param="model")
        self.check_budget()
        schema = resolved.entry.get("input_schema") or {"type": "object", "properties": {}}
        values, ignored = validate_input(schema, body["input"], ignore_unknown=resolved.via_alias)
        runner_input = resolve_media(schema, values, max_bytes=self.config.max_media_bytes,
                                     deadline_s=self.config.media_fetch_timeout)
        webhook = normalize_webhook(body.get("webhook"), allow_private=self.config.webhook_allow_private,
                                    allow_loopback=self.webhook_allow_loopback)
        now = time.time()
        pid = str(uuid.uuid4())
        outputs = values.get("num_outputs", 1)
        self._reserve(pid, credits_for(resolved.entry.get("pricing"),
                                       assets=outputs if isinstance(outputs, int) and outputs > 0 else 1))
        try:
            return self._admit(pid, model, resolved, values, ignored, runner_input, webhook, body, now)
        except BaseException:
            self._release(pid)
            raise

    def _admit(self, pid, model, resolved, values, ignored, runner_input, webhook, body, now) -> dict:
        metadata = {}
        if resolved.via_alias:
            metadata["served_by"] = resolved.slug
        if ignored:
            metadata["ignored_input"] = ignored
        rec = {"id": pid, "model": model, "local_model": resolved.slug,
               "model_type": resolved.entry.get("type", "image"), "status": "pending", "input": values,
               "output": None, "files": None, "error": None, "webhook": webhook,
               "stream": int(body.get("stream", False)), "source": "api", "created": now, "updated": now,
               "metadata": metadata, "owner": self.owner}
        with self._admission:  # a place is reserved before the insert, so concurrent creates cannot overfill
            self.check_capacity()
            self._reserved += 1
        try:
            self.store.insert(rec)
        except BaseException:
            with self._admission:
                self._reserved -= 1
            raise
        with self._admission:  # the reservation becomes a queued prediction in one step
            self._reserved -= 1
            self.worker.submit(rec["id"], resolved.runner, resolved.entry, runner_input)
        self._observe("prediction.created", rec)
        return rec

    def check_capacity(self) -> None:
        """Refuse a new prediction with 429 + Retry-After while `max_queued_predictions` are unfinished."""
        limit, waiting = self.config.max_queued_predictions, self.worker.waiting() + self._reserved
        if waiting < limit:
            return
        retry = self.worker.retry_after(waiting - limit + 1)
        raise ApiError(429, "RATE_LIMIT_EXCEEDED",
                       f"The local server has {waiting} unfinished predictions, its limit "
                       f"(max_queued_predictions = {limit}). Retry after {retry} s, or raise "
                       "max_queued_predictions in the [server] table of the server config.",
                       {"retry_after": retry, "unfinished": waiting, "max_queued_predictions": limit},
                       response="Too many requests", headers={"Retry-After": str(retry)})

    async def wait(self, prediction_id: str, timeout: float) -> None:
        def done() -> bool:
            rec = self.store.get(prediction_id)
            return rec is None or rec["status"] in TERMINAL

        await self.signals.wait(prediction_id, timeout, done)

    def get(self, prediction_id: str) -> dict:
        rec = self.store.get(prediction_id)
        if rec is None:
            raise unknown_prediction(prediction_id)
        return rec

    def list(self, params) -> tuple[list[dict], dict]:
        page = _int_param(params, "page", 1, lo=1, hi=MAX_PAGE)
        per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE, lo=1, hi=MAX_PER_PAGE)
        since = _date_param(params, "from")
        until = _date_param(params, "to")
        if since is not None and until is not None and since > until:
            raise bad_request("'from' is after 'to'", "from", "INVALID_DATE_RANGE")
        status = params.get("status")
        statuses = None
        if status:
            statuses = {"canceled": "cancelled", "queued": "pending", "started": "processing"}.get(status, status)
            if statuses not in (*ACTIVE, *TERMINAL):
                raise bad_request(f"unknown status {status!r}; use one of {', '.join((*ACTIVE, *TERMINAL))}",
                                  "status", "INVALID_PARAMETER")
            statuses = [statuses]
        rows, total = self.store.list(model=params.get("model") or None, status=statuses, since=since,
                                      until=None if until is None else until + 86400,
                                      offset=(page - 1) * per_page, limit=per_page)
        pagination = {"current_page": page, "per_page": per_page, "total": total,
                      "last_page": max(1, -(-total // per_page))}
        return rows, pagination

    def cancel(self, prediction_id: str) -> dict:
        rec = self.get(prediction_id)
        if rec["status"] == "cancelled":
            return rec
        if rec["status"] in TERMINAL:
            raise bad_request(f"Prediction {prediction_id} already {rec['status']}; only pending or running "
                              "predictions can be cancelled.", "id")
        now = time.time()
        if self.store.update(prediction_id, only_active=True, status="cancelled", completed=now):
            self.worker.cancel(prediction_id)
            self._on_transition("prediction.cancelled", prediction_id)
        return self.get(prediction_id)

    def delete(self, prediction_id: str) -> None:
        rec = self.get(prediction_id)
        if rec["status"] in ACTIVE:
            self.cancel(prediction_id)
        self.store.delete(prediction_id)


def _int_param(params, name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw) if len(raw) <= 30 else None  # no digit-limit ValueError, no quadratic parse
    except ValueError:
        value = None
    if value is None:
        raise bad_request(f"'{name}' must be an integer, got {shown(raw)!r}", name, "INVALID_PARAMETER")
    if value < lo or (hi is not None and value > hi):
        bounds = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise bad_request(f"'{name}' must be {bounds}, got {value}", name, "INVALID_PARAMETER")
    return value


def _date_param(params, name: str) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        day = dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise bad_request(f"'{name}' must be a date in the format YYYY-MM-DD, got {shown(raw)!r}", name,
                          "INVALID_DATE_FORMAT") from None
    return day.timestamp()
