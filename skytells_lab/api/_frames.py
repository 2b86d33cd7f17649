"""Tidy pandas DataFrames of the client's results, with run provenance in ``df.attrs["skytells"]``.

* :func:`predictions_frame` - one row per prediction across every page (aware datetimes, float times and
  credits, categorical status/model/type); a :class:`PredictionFrame` whose notebook display shows media
  inputs and image outputs as small previews while the data holds plain URIs.
* :func:`models_frame` - the catalog, one row per model, with pricing and capabilities.
* :func:`chat_frame` / :func:`responses_frame` - one row per choice / output item, usage, finish reason and
  the safety results flattened into columns.
* :func:`embeddings_frame` - one row per text; the vectors stay ONE float32 matrix reachable through
  ``df.skytells.vectors()`` (see :mod:`skytells_lab.notebook.vectors`).

Built from the records of :mod:`skytells_lab.api._records`; imported only by the ``.frame()`` methods
(lazily: pandas is not needed to use the client).
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from skytells_lab._html import media_html
from skytells_lab._media import media_kind
from skytells_lab.api._cards import thumbnail_html
from skytells_lab.api._records import (
    MODEL_COLUMNS,
    PREDICTION_COLUMNS,
    chat_rows,
    model_rows,
    prediction_rows,
    response_rows,
)

__all__ = [
    "ATTRS_KEY",
    "PREDICTION_COLUMNS",
    "SUFFIX",
    "PredictionFrame",
    "VectorBlock",
    "attach_vectors",
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

_TIME_COLUMNS = ("created_at", "started_at", "completed_at")
_SAFETY_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


# --------------------------------------------------------------------------- vectors beside a frame

ATTRS_KEY = "skytells_vectors"
SUFFIX = "_vec"


class VectorBlock:
    """A read-only float32 (n, d) matrix and the model that made it; shared, not copied, by pandas."""

    __slots__ = ("matrix", "model")

    def __init__(self, matrix: np.ndarray, model: str | None = None) -> None:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        matrix.setflags(write=False)
        self.matrix = matrix
        self.model = model

    def __deepcopy__(self, memo: dict) -> VectorBlock:
        return self

    def __copy__(self) -> VectorBlock:
        return self

    def __repr__(self) -> str:
        return f"VectorBlock({self.matrix.shape[0]}×{self.matrix.shape[1]} float32, model={self.model!r})"


def attach_vectors(df: pd.DataFrame, column: str, matrix: Any, *, rows: Any = None,
                   model: str | None = None) -> pd.DataFrame:
    """Set ``df[column + "_vec"]`` and keep ``matrix``; ``rows`` maps each frame row to a matrix row
    (default: row i -> matrix row i; -1 for none). Modifies and returns ``df``."""
    block = VectorBlock(matrix, model)
    n = len(df)
    positions = np.arange(n, dtype=np.int32) if rows is None else np.asarray(rows, dtype=np.int32)
    if positions.shape != (n,):
        raise ValueError(f"{n} rows but {positions.shape} positions")
    if n and positions.max(initial=-1) >= block.matrix.shape[0]:
        raise ValueError("a position points past the end of the matrix")
    df[column + SUFFIX] = positions
    blocks = dict(df.attrs.get(ATTRS_KEY) or {})
    blocks[column] = block
    df.attrs[ATTRS_KEY] = blocks
    return df


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
    rows = model_rows(models, schemas=schemas)
    df = pd.DataFrame(rows, columns=[*MODEL_COLUMNS, *(["inputs"] if schemas else [])])
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


def chat_frame(completions: Any, client: Any = None) -> pd.DataFrame:
    """One row per choice of one or more ChatCompletions: text, finish_reason, usage, and safety columns
    ``safety.<category>.<severity|filtered|detected>``, ``safety.flagged`` and ``prompt_safety.*``."""
    rows = [row for c in _as_list(completions) for row in chat_rows(c)]
    return _stamp(_typed_inference_frame(rows), "chat", client)


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
