"""Tidy pandas DataFrames of the client's results, with run provenance in ``df.attrs["skytells"]``.

* :func:`predictions_frame` - one row per prediction across every page (aware datetimes, float times and
  credits, categorical status/model/type); a :class:`PredictionFrame` whose notebook display shows media
  inputs and image outputs as small previews while the data holds plain URIs.
* :func:`models_frame` - the catalog, one row per model, with pricing and capabilities.
* :func:`chat_frame` / :func:`responses_frame` - one row per choice / output item, usage, finish reason and
  the safety results flattened into columns.
* :func:`embeddings_frame` - one row per text; the vectors stay ONE float32 matrix reachable through
  ``df.skytells.vectors()`` (see :mod:`skytells_lab.notebook.vectors`).
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pandas as pd

from skytells_lab.notebook.display import is_media_uri, media_html, media_kind, thumbnail_html

__all__ = [
    "PREDICTION_COLUMNS",
    "PredictionFrame",
    "chat_frame",
    "embeddings_frame",
    "models_frame",
    "models_frame_async",
    "prediction_rows",
    "predictions_frame",
    "predictions_frame_async",
    "provenance",
    "responses_frame",
    "safety_frame",
]

PREDICTION_COLUMNS = [
    "id", "model", "type", "status", "created_at", "started_at", "completed_at", "predict_time", "total_time",
    "credits_used", "output", "outputs", "error", "prompt", "media_inputs", "input",
]
_TIME_COLUMNS = ("created_at", "started_at", "completed_at")
_SAFETY_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


# --------------------------------------------------------------------------- provenance


def _device(client: Any) -> str | None:
    cached = getattr(client, "_skytells_device", None)
    if cached is not None:
        return cached or None
    device = ""
    if getattr(client, "is_local", False):
        try:
            status = client.status()
            if inspect.iscoroutine(status):  # an async client: the async frames ask first (_device_async)
                status.close()
                return None
            device = status.get("device") or ""
        except Exception:  # noqa: BLE001 - provenance must never break a frame
            device = ""
    try:
        client._skytells_device = device
    except AttributeError:
        pass
    return device or None


async def _device_async(client: Any) -> None:
    """Ask an async client's backend for its device once, so the frame's provenance can name it."""
    if getattr(client, "is_local", False) and getattr(client, "_skytells_device", None) is None:
        try:
            client._skytells_device = (await client.status()).get("device") or ""
        except Exception:  # noqa: BLE001 - provenance must never break a frame
            client._skytells_device = ""


def provenance(client: Any = None, **extra: Any) -> dict[str, Any]:
    """Where a frame came from: backend host, local or remote, device of local runs, versions, time."""
    from skytells_lab._version import __version__

    info: dict[str, Any] = {"skytells_lab": __version__, "pandas": pd.__version__,
                            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if client is not None:
        base = getattr(client, "base_url", None)
        info.update(backend=urlsplit(base).netloc if base else None, base_url=base,
                    local=bool(getattr(client, "is_local", False)))
        if info["local"]:
            info["device"] = _device(client)
    info.update({k: v for k, v in extra.items() if v is not None})
    return info


def _stamp(df: pd.DataFrame, what: str, client: Any = None, **extra: Any) -> pd.DataFrame:
    df.attrs["skytells"] = {"what": what, **provenance(client, **extra)}
    return df


# --------------------------------------------------------------------------- predictions


class PredictionFrame(pd.DataFrame):
    """A DataFrame of predictions: the data are plain values; the notebook display adds previews
    (media inputs as thumbnails, image outputs as small pictures, audio/video outputs as players)."""

    _metadata: ClassVar[list[str]] = []

    @property
    def _constructor(self):
        return PredictionFrame

    def _repr_html_(self) -> str | None:
        media_cols = [c for c in ("media_inputs", "output") if c in self.columns]
        if not media_cols or self.empty:
            return super()._repr_html_()
        max_rows = pd.get_option("display.max_rows") or len(self)
        view = pd.DataFrame(self)
        if len(view) > max_rows:
            half = max(max_rows // 2, 1)
            view = pd.concat([view.head(half), view.tail(half)])
        shown = pd.DataFrame(index=view.index)
        for col in view.columns:
            if col == "input":
                continue  # the full input dict; its media already appear under media_inputs
            if col == "media_inputs":
                shown[col] = view[col].map(lambda uris: "".join(thumbnail_html(u, 48) for u in uris or []))
            elif col == "output":
                shown[col] = view[col].map(_output_preview)
            else:
                shown[col] = view[col].map(_cell)
        table = shown.to_html(escape=False, border=0, index=True, na_rep="")
        note = f"<p>{len(self)} rows × {len(self.columns)} columns</p>"
        return f'<div class="skytells-frame">{table}{note}</div>'


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, list):
        return html.escape(f"[{len(value)} items]") if value else ""
    text = value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else str(value)
    return html.escape(text if len(text) <= 80 else text[:79] + "…")


def _output_preview(url: Any) -> str:
    if not isinstance(url, str) or not url:
        return ""
    return media_html(url, px=64) if media_kind(url) else html.escape(url)


def _media_inputs(values: dict) -> list[str]:
    found = []
    for value in values.values():
        for v in value if isinstance(value, list) else [value]:
            if is_media_uri(v):
                found.append(v)
    return found


def prediction_rows(predictions: Iterable[Any]) -> list[dict[str, Any]]:
    """Plain dicts, one per Prediction, with the columns of :data:`PREDICTION_COLUMNS`."""
    rows = []
    for p in predictions:
        inputs = dict(p.input or {})
        prompt = inputs.get("prompt")
        rows.append({
            "id": p.id,
            "model": p.model,
            "type": p.model_type,
            "status": str(getattr(p.status, "value", p.status)),
            "created_at": p.created_at,
            "started_at": p.started_at,
            "completed_at": p.completed_at,
            "predict_time": p.metrics.predict_time,
            "total_time": p.metrics.total_time,
            "credits_used": p.credits_used,
            "output": p.outputs[0] if p.outputs else None,
            "outputs": list(p.outputs),
            "error": p.error,
            "prompt": prompt if isinstance(prompt, str) else None,
            "media_inputs": _media_inputs(inputs),
            "input": inputs,
        })
    return rows


def _typed_prediction_frame(rows: list[dict[str, Any]], index: Any = None) -> PredictionFrame:
    df = PredictionFrame(rows, columns=PREDICTION_COLUMNS, index=index)
    df["id"] = df["id"].astype("string")
    for col in _TIME_COLUMNS:
        df[col] = pd.to_datetime(df[col], utc=True)
    for col in ("predict_time", "total_time", "credits_used"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in ("model", "type", "status"):
        df[col] = df[col].astype("category")
    for col in ("output", "error", "prompt"):
        df[col] = df[col].astype("string")
    return df


def predictions_frame(client: Any, *, model: str | None = None, since: Any = None, until: Any = None,
                      status: Any = None, limit: int | None = None, per_page: int = 50) -> PredictionFrame:
    """Every prediction matching the filters, across all pages, one row each (newest first as served).

    Columns: id, model, type, status, created_at/started_at/completed_at (UTC), predict_time, total_time,
    credits_used, output (first URL), outputs (all URLs), error, prompt, media_inputs (data URIs or URLs
    of media inputs), input (the full input dict). ``limit`` stops after that many rows.
    """
    predictions = []
    for p in client.predictions.iter(per_page=per_page, model=model, since=since, until=until, status=status):
        predictions.append(p)
        if limit is not None and len(predictions) >= limit:
            break
    return _predictions_frame(client, predictions, model=model, since=since, until=until, status=status)


async def predictions_frame_async(client: Any, *, model: str | None = None, since: Any = None, until: Any = None,
                                  status: Any = None, limit: int | None = None,
                                  per_page: int = 50) -> PredictionFrame:
    """:func:`predictions_frame` for an AsyncSkytells client."""
    await _device_async(client)
    predictions = []
    async for p in client.predictions.iter(per_page=per_page, model=model, since=since, until=until,
                                           status=status):
        predictions.append(p)
        if limit is not None and len(predictions) >= limit:
            break
    return _predictions_frame(client, predictions, model=model, since=since, until=until, status=status)


def _predictions_frame(client: Any, predictions: list, **filters: Any) -> PredictionFrame:
    df = _typed_prediction_frame(prediction_rows(predictions))
    return _stamp(df, "predictions", client, **{k: str(v) if v is not None else None for k, v in filters.items()})


# --------------------------------------------------------------------------- models

_MODEL_COLUMNS = ["slug", "name", "type", "description", "vendor", "price", "currency", "unit", "capabilities",
                  "status", "billable", "openai_compatible"]


def models_frame(client: Any, type: str | None = None, *, schemas: bool = False) -> pd.DataFrame:
    """The catalog, one row per model: slug, name, type, description, vendor, price, currency, unit,
    capabilities (list), status, billable, openai_compatible, and with ``schemas=True`` the input fields."""
    fields = ["input_schema", "output_schema"] if schemas else None
    return _models_frame(client, client.models.list(type=type, fields=fields), type, schemas)


async def models_frame_async(client: Any, type: str | None = None, *, schemas: bool = False) -> pd.DataFrame:
    fields = ["input_schema", "output_schema"] if schemas else None
    await _device_async(client)
    return _models_frame(client, await client.models.list(type=type, fields=fields), type, schemas)


def _models_frame(client: Any, models: list, type: str | None, schemas: bool) -> pd.DataFrame:
    rows = []
    for m in models:
        pricing = m.pricing
        vendor = m.vendor if isinstance(m.vendor, dict) else {}
        row = {
            "slug": m.slug, "name": m.name, "type": m.type, "description": m.description,
            "vendor": vendor.get("name"), "price": pricing.amount if pricing else None,
            "currency": pricing.currency if pricing else None, "unit": pricing.unit if pricing else None,
            "capabilities": list(m.capabilities), "status": m.status, "billable": m.billable,
            "openai_compatible": bool((m.metadata or {}).get("openai_compatible")),
        }
        if schemas:
            row["inputs"] = list(((m.input_schema or {}).get("properties") or {}).keys())
        rows.append(row)
    df = pd.DataFrame(rows, columns=[*_MODEL_COLUMNS, *(["inputs"] if schemas else [])])
    for col in ("slug", "name", "description", "vendor", "currency", "unit"):
        df[col] = df[col].astype("string")
    df["price"] = pd.to_numeric(df["price"], errors="coerce").astype("float64")
    df["type"] = df["type"].astype("category")
    df["status"] = df["status"].astype("category")
    df["billable"] = df["billable"].astype("boolean")
    df["openai_compatible"] = df["openai_compatible"].astype(bool)
    return _stamp(df, "models", client, type=type)


# --------------------------------------------------------------------------- safety checks


def safety_frame(results: Iterable[Any], client: Any = None) -> pd.DataFrame:
    """One row per safety result: input, passed, failed_categories, template, model, severity_<category>."""
    rows = [r.to_record() for r in results]
    df = pd.DataFrame(rows, columns=list(dict.fromkeys(
        ["input", "passed", "failed_categories", "template", "model", *(k for r in rows for k in r)])))
    df["passed"] = df["passed"].astype(bool)
    return _stamp(df, "safety", client)


# --------------------------------------------------------------------------- chat and responses


def _flatten_safety(results: Any, prefix: str) -> dict[str, Any]:
    """{"hate": {"filtered": false, "severity": "safe"}, ...} -> {prefix.hate.filtered: False, ...}."""
    out: dict[str, Any] = {}
    if not isinstance(results, dict):
        return out
    for category, verdict in results.items():
        if isinstance(verdict, dict):
            for key, value in verdict.items():
                if isinstance(value, (str, bool, int, float)) or value is None:
                    out[f"{prefix}.{category}.{key}"] = value
    flags = [v for k, v in out.items() if k.endswith((".filtered", ".detected"))]
    if flags:
        out[f"{prefix}.flagged"] = any(bool(v) for v in flags)
    return out


def _typed_inference_frame(rows: list[dict[str, Any]], index: Any = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, index=index)
    for col in df.columns:
        if col.endswith(("tokens",)):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col.endswith((".filtered", ".detected", ".flagged", ".blocked")):
            df[col] = df[col].astype("boolean")
        elif col.endswith(".severity") or col in ("finish_reason", "role", "model", "status", "type"):
            df[col] = df[col].astype("category")
        elif col in ("text", "id", "item_id", "refusal"):
            df[col] = df[col].astype("string")
    if "created" in df.columns:
        df["created"] = pd.to_datetime(df["created"], unit="s", utc=True)
    return df


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def chat_rows(completion: Any) -> list[dict[str, Any]]:
    usage = completion.usage
    prompt_safety: dict[str, Any] = {}
    for entry in completion.prompt_filter_results or []:
        if entry.get("prompt_index", 0) == 0:
            prompt_safety = _flatten_safety(entry.get("content_filter_results"), "prompt_safety")
    rows = []
    for choice in completion.choices:
        content = choice.message.content
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        rows.append({
            "id": completion.id, "model": completion.model, "created": completion.created,
            "choice": choice.index, "role": choice.message.role, "text": content,
            "finish_reason": choice.finish_reason, "refusal": choice.message.refusal,
            "prompt_tokens": usage.tokens_in if usage else None,
            "completion_tokens": usage.tokens_out if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
            **_flatten_safety(choice.content_filter_results, "safety"),
            **prompt_safety,
        })
    return rows


def chat_frame(completions: Any, client: Any = None) -> pd.DataFrame:
    """One row per choice of one or more ChatCompletions: text, finish_reason, usage, and safety columns
    ``safety.<category>.<severity|filtered|detected>``, ``safety.flagged`` and ``prompt_safety.*``."""
    rows = [row for c in _as_list(completions) for row in chat_rows(c)]
    return _stamp(_typed_inference_frame(rows), "chat", client)


def response_rows(response: Any) -> list[dict[str, Any]]:
    usage = response.usage
    safety: dict[str, Any] = {}
    for entry in response.content_filters or []:
        source = entry.get("source_type") or "completion"
        prefix = "prompt_safety" if source == "prompt" else "safety"
        safety[f"{prefix}.blocked"] = entry.get("blocked")
        safety.update(_flatten_safety(entry.get("content_filter_results"), prefix))
    rows = []
    for i, item in enumerate(response.output or [{}]):
        texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        rows.append({
            "id": response.id, "model": response.model, "status": response.status,
            "created": response.created_at, "output_index": i, "item_id": item.get("id"), "type": item.get("type"),
            "role": item.get("role"), "text": "".join(texts) if item else None,
            "input_tokens": usage.tokens_in if usage else None, "output_tokens": usage.tokens_out if usage else None,
            "total_tokens": usage.total_tokens if usage else None, **safety,
        })
    return rows


def responses_frame(responses: Any, client: Any = None) -> pd.DataFrame:
    """One row per output item of one or more Responses: text, status, usage and flattened safety."""
    rows = [row for r in _as_list(responses) for row in response_rows(r)]
    return _stamp(_typed_inference_frame(rows), "responses", client)


# --------------------------------------------------------------------------- embeddings


def embeddings_frame(texts: Any, vectors: Any = None, *, model: str | None = None, client: Any = None,
                     column: str = "text", index: Any = None) -> pd.DataFrame:
    """One row per text with the vectors attached as one float32 matrix (``df.skytells.vectors()``).

    ``texts`` may be a list of strings (then ``vectors`` is the (n, d) matrix, or None to embed them with
    ``client``) or an EmbeddingResponse together with the texts it embedded.
    """
    import numpy as np

    from skytells_lab.notebook.vectors import attach_vectors

    if hasattr(vectors, "vectors") and hasattr(vectors, "data"):  # an EmbeddingResponse
        model = model or vectors.model
        vectors = vectors.vectors
    texts = [texts] if isinstance(texts, str) else list(texts)
    if vectors is None:
        if client is None:
            raise ValueError("give the vectors, or a client to embed the texts with")
        model = model or client.default_embedding_model
        vectors = client.embed(texts, model=model)
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(texts):
        raise ValueError(f"{len(texts)} texts but vectors of shape {matrix.shape}")
    df = pd.DataFrame({column: pd.array(texts, dtype="string")}, index=index)
    _stamp(df, "embeddings", client, model=model, dimensions=int(matrix.shape[1]))
    return attach_vectors(df, column, matrix, model=model)
