"""Typed REST objects: Model, Prediction, PredictionPage, BackendStatus, CallRecord.

pydantic v2, ``extra="allow"``: fields the client does not know are kept, and the original dict stays in
``.raw``. The validators accept every variant of wire-protocol §1-2 (``model`` as a string or
``{name, type}``, ``output`` as a string, list or objects, both timestamp forms, the status spellings,
lists as a bare array or ``{data, pagination}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from skytells_lab.api._status import PredictionStatus, normalize_status


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)

    raw: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw(cls, data: Any) -> Any:
        if isinstance(data, dict) and "raw" not in data:
            return {**data, "raw": dict(data)}
        return data


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, datetime):
        return _aware(value)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


# --------------------------------------------------------------------------- models


class Pricing(_Wire):
    amount: float | None = None
    currency: str | None = None
    unit: str | None = None


class Model(_Wire):
    name: str = ""
    namespace: str | None = None
    description: str | None = None
    type: str | None = None
    privacy: str | None = None
    vendor: dict[str, Any] | None = None
    billable: bool | None = None
    pricing: Pricing | None = None
    capabilities: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _variants(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data, "namespace": data, "raw": {"name": data}}
        if isinstance(data, dict):
            data = {"raw": dict(data), **data}
            for key in ("input_schema", "output_schema", "metadata", "vendor", "pricing"):
                if key in data and not isinstance(data[key], dict):
                    data[key] = None if key != "metadata" else {}
            if not isinstance(data.get("capabilities"), list):
                data["capabilities"] = []
        return data

    @property
    def slug(self) -> str:
        """What to pass as ``model=``: the namespace, else the name."""
        return self.namespace or self.name

    def to_records(self) -> list[dict[str, Any]]:
        """This model as one catalog row (the columns of ``client.models.frame()``)."""
        from skytells_lab.api._records import model_rows

        return model_rows([self])

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import model_html

        return model_html(self)

    def __repr__(self) -> str:
        price = ""
        if self.pricing and self.pricing.amount is not None:
            price = f", {self.pricing.amount:g} {self.pricing.currency or ''}/{self.pricing.unit or '?'}"
        return f"Model({self.slug!r}, type={self.type!r}{price})"

    __str__ = __repr__


# --------------------------------------------------------------------------- predictions


class Metrics(_Wire):
    predict_time: float | None = None
    total_time: float | None = None
    progress: float | None = None
    image_count: int | None = None


def _output_urls(output: Any) -> list[str]:
    if output is None:
        return []
    items = output if isinstance(output, list) else [output]
    urls = []
    for item in items:
        if isinstance(item, str):
            urls.append(item)
        elif isinstance(item, dict):
            url = item.get("url") or item.get("uri") or item.get("href")
            if isinstance(url, str):
                urls.append(url)
    return urls


class Prediction(_Wire):
    id: str
    status: PredictionStatus | str = PredictionStatus.PENDING
    model: str | None = None
    model_type: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    outputs: list[str] = Field(default_factory=list)
    error: str | None = None
    message: str | None = None
    metrics: Metrics = Field(default_factory=Metrics)
    credits_used: float | None = None
    urls: dict[str, Any] = Field(default_factory=dict)
    webhook: Any = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None

    _client: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _variants(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        raw = data.get("raw", data)
        data = dict(data)
        data["raw"] = dict(raw)
        if data.get("id") is not None:
            data["id"] = str(data["id"])
        # {"status": false, "id": ..., "error": {"message": "queued"}}: a queued prediction, not a failure
        if data.get("status") is False:
            err = data.pop("error", None)
            note = err.get("message") if isinstance(err, dict) else err
            data["message"] = note or data.get("response")
        data["status"] = normalize_status(data.get("status"))
        model = data.get("model")
        if isinstance(model, dict):
            data["model"] = model.get("name") or model.get("namespace") or model.get("slug")
            data.setdefault("model_type", model.get("type"))
        elif model is not None and not isinstance(model, str):
            data["model"] = str(model)
        err = data.get("error")
        if isinstance(err, dict):
            data["error"] = err.get("message") or err.get("details") or str(err)
        elif err is not None and not isinstance(err, str):
            data["error"] = str(err)
        if "outputs" not in data or not isinstance(data.get("outputs"), list):
            data["outputs"] = _output_urls(data.get("output"))
        if not isinstance(data.get("input"), dict):
            data["input"] = {} if data.get("input") is None else {"value": data["input"]}
        if not isinstance(data.get("metrics"), dict):
            data["metrics"] = {}
        if not isinstance(data.get("urls"), dict):
            data["urls"] = {}
        if data.get("credits_used") is None:
            billing = (data.get("metadata") or {}).get("billing") if isinstance(data.get("metadata"), dict) else None
            if isinstance(billing, dict):
                data["credits_used"] = billing.get("credits_used")
        for key in ("created_at", "started_at", "completed_at", "updated_at"):
            if key in data:
                data[key] = _parse_time(data[key])
        return data

    @field_validator("credits_used", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    @property
    def is_terminal(self) -> bool:
        """True once the status is final: succeeded, failed or canceled."""
        return isinstance(self.status, PredictionStatus) and self.status.is_terminal

    @property
    def succeeded(self) -> bool:
        """True when the status is ``succeeded``."""
        return self.status == PredictionStatus.SUCCEEDED

    def _bound(self) -> Any:
        from skytells_lab.api.errors import ConfigurationError

        if self._client is None:
            raise ConfigurationError("this Prediction is not bound to a client; use client.predictions.get(id)")
        return self._client

    def refresh(self) -> Any:
        """Fetch the current state (a new Prediction; with an async client, a coroutine)."""
        return self._bound().predictions.get(self.id)

    def wait(self, timeout: float | None = None, poll_interval: float = 0.5, *,
             on_update: Any = None, cancel: Any = None) -> Any:
        """Poll until terminal and return the final Prediction (a coroutine with an async client).

        Args:
            timeout: seconds to wait at most; then WaitTimeout, carrying the id (the prediction goes on).
            poll_interval: the first pause between polls, growing to 5 s.
            on_update: called with each state fetched (progress bars, widgets).
            cancel: a ``threading.Event`` or a callable; once true the prediction is cancelled on the server
                and followed to its end (see ``client.predictions.wait``).
        """
        return self._bound().predictions.wait(self, timeout=timeout, poll_interval=poll_interval,
                                              on_update=on_update, cancel=cancel)

    def cancel(self) -> Any:
        """Cancel this prediction on the server; returns its new state (a coroutine with an async client)."""
        return self._bound().predictions.cancel(self.id)

    def download(self, folder: Any = ".", *, progress: bool | None = None) -> Any:
        """Save every output file under ``folder`` (created if needed) and return their paths, in output order.

        The service purges outputs after its retention period: download what you keep. Names come from the
        output URLs (made safe); a different file already holding a name gets ``-1``, ``-2``...; a progress
        bar shows for more than three files (``progress=`` forces it on or off). Awaitable on AsyncSkytells."""
        client = self._bound()
        from skytells_lab.api._operations import download_outputs

        return client._execute(download_outputs(client, self, folder, progress))

    def stream(self) -> Any:
        """Iterate this prediction's progress events (``client.predictions.stream(self)``)."""
        return self._bound().predictions.stream(self)

    def images(self) -> Any:
        """The outputs as PIL images, fetched through the same client (auth only to the API's own host)."""
        return self._bound()._images(self)

    def to_records(self) -> list[dict[str, Any]]:
        """This prediction as one row (the columns of ``client.predictions.frame()``)."""
        from skytells_lab.api._records import prediction_rows

        return prediction_rows([self])

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import prediction_html

        return prediction_html(self)

    def __repr__(self) -> str:
        bits = [repr(self.id), f"status={str(self.status)!r}", f"model={self.model!r}"]
        if self.outputs:
            bits.append(f"outputs={len(self.outputs)}")
        if self.metrics.predict_time is not None:
            bits.append(f"predict_time={self.metrics.predict_time:.2f}s")
        if self.error:
            bits.append(f"error={self.error[:60]!r}")
        return f"Prediction({', '.join(bits)})"

    __str__ = __repr__


class _Page(_Wire):
    """One page of a list endpoint: ``data`` and the page fields, whatever shape the backend sent them in."""

    current_page: int = 1
    per_page: int | None = None
    total: int | None = None
    last_page: int | None = None

    @classmethod
    def from_wire(cls, body: Any, *, page: int, per_page: int) -> Any:
        """Accept a bare array, ``{data, pagination}`` or Laravel-style top-level page fields."""
        if isinstance(body, list):
            return cls(data=body, current_page=page, per_page=per_page, raw={"data": body})
        if not isinstance(body, dict):
            return cls(current_page=page, per_page=per_page)
        items = body.get("data") or body.get("predictions") or body.get("models") or body.get("items") or []
        meta = body.get("pagination") or body.get("meta") or body
        fields = {k: meta.get(k) for k in ("current_page", "per_page", "total", "last_page") if isinstance(meta, dict)}
        fields = {k: v for k, v in fields.items() if isinstance(v, int)}
        fields.setdefault("current_page", page)
        fields.setdefault("per_page", per_page)
        return cls(data=items, raw=body, **fields)

    @property
    def has_next(self) -> bool:
        """Whether a later page holds more items."""
        if self.last_page is not None:
            return self.current_page < self.last_page
        if self.total is not None and self.per_page:
            return self.current_page * self.per_page < self.total
        return bool(self.data) and self.per_page is not None and len(self.data) >= self.per_page

    def __iter__(self):  # type: ignore[override]
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        return self.data[index]

    def __repr__(self) -> str:
        total = f" of {self.total}" if self.total is not None else ""
        last = f"/{self.last_page}" if self.last_page is not None else ""
        return f"{type(self).__name__}(page {self.current_page}{last}, {len(self.data)} items{total})"

    __str__ = __repr__


class PredictionPage(_Page):
    data: list[Prediction] = Field(default_factory=list)

    # declared here too, so the reference documents them on the public class
    from_wire = _Page.__dict__["from_wire"]
    has_next = _Page.__dict__["has_next"]

    def to_records(self) -> list[dict[str, Any]]:
        """One row per prediction on this page (the columns of ``client.predictions.frame()``)."""
        from skytells_lab.api._records import prediction_rows

        return prediction_rows(self.data)

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import page_html

        return page_html(self)


class ModelPage(_Page):
    """One page of ``client.models.list(page=..., per_page=...)``."""

    data: list[Model] = Field(default_factory=list)
    has_next = _Page.__dict__["has_next"]

    @classmethod
    def from_wire(cls, body: Any, *, page: int, per_page: int) -> Any:
        if isinstance(body, list):  # a backend that does not page models: the whole catalog, one page
            return cls(data=body, current_page=1, per_page=len(body), total=len(body), last_page=1,
                       raw={"data": body})
        return super().from_wire(body, page=page, per_page=per_page)

    def to_records(self) -> list[dict[str, Any]]:
        """One row per model on this page (the columns of ``client.models.frame()``)."""
        from skytells_lab.api._records import model_rows

        return model_rows(self.data)

    def _repr_html_(self) -> str:
        from skytells_lab.api._cards import model_page_html

        return model_page_html(self)


# --------------------------------------------------------------------------- service status, observers


class BackendStatus(dict):
    """``client.status()``: dict-like, with attribute access to reachable, version, local, device, ready
    (every model the local server loads at start is loaded; False while its ``/health`` answers 503) and
    loading (those models still loading)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        where = "local" if self.get("local") else "remote"
        state = "reachable" if self.get("reachable") else "unreachable"
        if self.get("reachable") and self.get("ready") is False:
            state += ", not ready"
        extra = "".join(f", {k}={self[k]!r}" for k in ("version", "device", "loading") if self.get(k))
        return f"BackendStatus({state}, {where}, {self.get('base_url')!r}{extra})"


@dataclass(frozen=True)
class CallRecord:
    """What every observer receives after each API call."""

    kind: str
    model: str | None
    latency_s: float
    status: str | int | None
    predict_time: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    credits_used: float | None = None
    request_id: str | None = None
    ok: bool = True
    prediction_id: str | None = None  # lets the ledger count a prediction's credits once


class WebhookEvent(_Wire):
    """A parsed webhook: the envelope ``{type, created_at, data}`` or a bare Prediction alike."""

    type: str
    created_at: datetime | None = None
    prediction: Prediction

    def __repr__(self) -> str:
        return f"WebhookEvent({self.type!r}, {self.prediction.id!r}, status={str(self.prediction.status)!r})"
