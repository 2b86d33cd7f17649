"""``df.skytells``: batch work over a DataFrame column, returning a copy with the results joined back.

>>> out = df.skytells.run("digits-diffusion", input_column="prompt", seed=1)   # one prediction per row
>>> out = df.skytells.chat("question", system="Answer in one word.")
>>> out = df.skytells.embed("text"); out.skytells.vectors()                      # (n, d) float32

Every method keeps the caller's index, shows a tqdm progress bar, records a row's failure in an error
column instead of aborting the batch, and resumes without paying twice: rows whose result columns are
filled are skipped, and results are kept in the persistent cache (``cache=False`` to opt out), so
running the same call again after an interruption only sends the rows not done yet.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import numpy as np
import pandas as pd

from skytells_lab.notebook import vectors as V
from skytells_lab.notebook.frames import provenance

__all__ = ["SkytellsAccessor", "default_client"]

_default: dict[str, Any] = {}
_default_lock = threading.Lock()


def default_client() -> Any:
    """The client the accessor uses when none is given: ``skytells_lab.connect()``, made once."""
    with _default_lock:
        if "client" not in _default:
            from skytells_lab import connect

            _default["client"] = connect()
        return _default["client"]


def _plain(value: Any) -> Any:
    """numpy scalars and pandas NA into what JSON takes."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return np.isnan(value)
    if isinstance(value, str):
        return value == ""
    return False


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _progress(total: int, desc: str, progress: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", disable=progress is False or total == 0)


def _run_rows(todo: list[int], job: Callable[[int], dict], concurrency: int, desc: str,
              progress: bool | None) -> dict[int, dict]:
    """Run ``job(position)`` for each position, ``concurrency`` at a time; a row's exception becomes
    ``{"error": ...}``. On an interrupt, pending rows are dropped and finished ones are kept."""
    results: dict[int, dict] = {}
    bar = _progress(len(todo), desc, progress)
    pool = ThreadPoolExecutor(max_workers=max(1, int(concurrency)), thread_name_prefix="skytells-accessor")
    futures = {pool.submit(job, pos): pos for pos in todo}
    try:
        for future in as_completed(futures):
            pos = futures[future]
            try:
                results[pos] = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed row must not abort the batch
                results[pos] = {"error": _message(exc)}
            bar.update(1)
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return results


@pd.api.extensions.register_dataframe_accessor("skytells")
class SkytellsAccessor:
    """Skytells calls over the rows of a DataFrame (``df.skytells``)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    # ------------------------------------------------------------------ vectors

    def vectors(self, column: str | None = None) -> np.ndarray:
        """The float32 (len(df), d) embedding matrix of this frame's rows, in order."""
        return V.vectors_of(self._df, column)

    def to_parquet(self, path: Any, column: str | None = None):
        """Write the frame with its vectors as fixed-size float32 list column(s) ``<column>_embedding``."""
        return V.to_parquet(self._df, path, column)

    def save_npy(self, path: Any, column: str | None = None):
        return V.save_npy(self._df, path, column)

    # ------------------------------------------------------------------ embeddings

    def embed(self, column: str, model: str | None = None, *, client: Any = None, dimensions: int | None = None,
              batch_size: int = 256, progress: bool | None = None, error_column: str = "embed_error") -> pd.DataFrame:
        """Embed ``df[column]``; the vectors are kept as ONE float32 matrix (``.skytells.vectors(column)``).

        Each distinct text is embedded once; empty rows get no vector; a failing batch marks its rows in
        ``error_column`` and the other batches go on. Embeddings are cached, so a rerun costs nothing.
        """
        client = client or default_client()
        model = model or client.default_embedding_model
        df = self._df.copy()
        values = [_plain(v) for v in df[column].tolist()]
        texts = list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
        where = {t: i for i, t in enumerate(texts)}
        matrix: np.ndarray | None = None
        failed: dict[str, str] = {}
        chunks = [texts[i:i + batch_size] for i in range(0, len(texts), max(1, batch_size))]
        bar = _progress(len(texts), f"embed {model}", progress)
        parts = []
        try:
            for chunk in chunks:
                try:
                    part = np.asarray(client.embed(chunk, model=model, dimensions=dimensions, batch_size=batch_size,
                                                   progress=False), dtype=np.float32)
                except Exception as exc:  # noqa: BLE001 - one failing batch must not abort the others
                    failed.update((t, _message(exc)) for t in chunk)
                    part = None
                parts.append((chunk, part))
                bar.update(len(chunk))
        finally:
            bar.close()
        dims = next((p.shape[1] for _, p in parts if p is not None), dimensions or 0)
        matrix = np.full((len(texts), dims), np.nan, dtype=np.float32)
        start = 0
        for chunk, part in parts:
            if part is not None:
                matrix[start:start + len(chunk)] = part
            start += len(chunk)
        rows = [where[v] if isinstance(v, str) and v in where and v not in failed else -1 for v in values]
        V.attach_vectors(df, column, matrix, rows=rows, model=model)
        errors = [failed.get(v) if isinstance(v, str) else None for v in values]
        if failed or error_column in df.columns:
            df[error_column] = pd.array(errors, dtype="string")
        df.attrs["skytells"] = provenance(client, what="embed", model=model, column=column,
                                          dimensions=int(dims), texts=len(texts), failed=len(failed))
        return df

    # ------------------------------------------------------------------ predictions

    def run(self, model: str, input_column: str = "prompt", *, input_key: str | None = None, client: Any = None,
            concurrency: int = 4, timeout: float | None = None, progress: bool | None = None, cache: bool = True,
            error_column: str = "error", **fixed_inputs: Any) -> pd.DataFrame:
        """One prediction per row with ``{input_key or input_column: row value, **fixed_inputs}``, run
        ``concurrency`` at a time; joins prediction_id, status, output (first URL), outputs, predict_time,
        credits_used and ``error_column`` back onto a copy of the frame (same index).

        Rows whose status is already ``succeeded`` are skipped; with ``cache=True`` a row whose exact
        request succeeded before (this machine, this backend) is read from the cache instead of paid again.
        """
        from skytells_lab.api.errors import PredictionFailed

        client = client or default_client()
        key = input_key or input_column
        df = self._df.copy()
        n = len(df)
        fixed = {k: _plain(v) for k, v in fixed_inputs.items()}
        status = df["status"].astype("string").tolist() if "status" in df.columns else [None] * n
        todo = [i for i in range(n) if status[i] != "succeeded"]
        values = df[input_column].tolist()

        def job(pos: int) -> dict:
            error = None
            try:
                prediction = client.run(model, {key: _plain(values[pos]), **fixed}, timeout=timeout,
                                        cache=bool(cache))  # True: every exact request is kept, seeded or not
            except PredictionFailed as exc:
                prediction, error = exc.prediction, exc.message
            return {
                "prediction_id": prediction.id, "status": str(getattr(prediction.status, "value", prediction.status)),
                "output": prediction.outputs[0] if prediction.outputs else None,
                "outputs": list(prediction.outputs), "predict_time": prediction.metrics.predict_time,
                "credits_used": prediction.credits_used, "error": error or prediction.error,
            }

        results = _run_rows(todo, job, concurrency, f"run {model}", progress)
        columns = {"prediction_id": "string", "status": "string", "output": "string", "predict_time": "float64",
                   "credits_used": "float64", "error": "string"}
        for field, dtype in columns.items():
            col = error_column if field == "error" else field
            current = df[col].tolist() if col in df.columns else [None] * n
            for pos, result in results.items():
                # a row whose request failed has no prediction: status "error" and the message
                current[pos] = result.get(field, "error" if field == "status" else None)
            df[col] = pd.array([_plain(v) for v in current], dtype=dtype)
        outputs = df["outputs"].tolist() if "outputs" in df.columns else [[] for _ in range(n)]
        for pos, result in results.items():
            outputs[pos] = result.get("outputs", [])
        df["outputs"] = pd.Series(outputs, index=df.index, dtype=object)
        seed = fixed.get("seed")
        df.attrs["skytells"] = provenance(
            client, what="run", model=model, input_column=input_column, seed=seed,
            fixed_inputs=json.dumps({k: (v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v)
                                     for k, v in fixed.items()}, default=str),
            rows=n, sent=len(todo), failed=int(sum(1 for r in results.values() if r.get("error"))),
            credits=float(sum(r.get("credits_used") or 0.0 for r in results.values())))
        return df

    # ------------------------------------------------------------------ chat

    def chat(self, column: str, model: str | None = None, *, system: str | None = None, client: Any = None,
             concurrency: int = 4, progress: bool | None = None, cache: bool = True, output_column: str = "reply",
             error_column: str = "chat_error", **params: Any) -> pd.DataFrame:
        """One chat completion per row (the row's text as the user message, ``system`` first); joins
        ``output_column``, finish_reason, prompt_tokens, completion_tokens and ``error_column``.

        Rows with a reply already are skipped; replies are cached by (model, messages, parameters).
        """
        from skytells_lab.notebook.cache import cache_key

        client = client or default_client()
        model = model or client.default_chat_model
        use = cache and client.cache is not None and client.cache.enabled
        identity = client.models.identity(model) if use else None
        df = self._df.copy()
        n = len(df)
        done = df[output_column].tolist() if output_column in df.columns else [None] * n
        prior_errors = df[error_column].tolist() if error_column in df.columns else [None] * n
        todo = [i for i in range(n) if _blank(done[i]) or not _blank(prior_errors[i])]
        values = df[column].tolist()
        store = client.cache if use and identity is not None else None

        def job(pos: int) -> dict:
            text = _plain(values[pos])
            if _blank(text):
                return {"error": "empty message"}
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": text}]
            request = {"messages": messages, **params}
            key = cache_key("chat", model, request, backend=identity)
            hit = store.get_many([key]) if store is not None else {}
            if hit:
                return json.loads(hit[key])
            completion = client.chat.completions.create(model=model, messages=messages, **params)
            choice = completion.choices[0] if completion.choices else None
            usage = completion.usage
            result = {"reply": completion.text, "finish_reason": choice.finish_reason if choice else None,
                      "prompt_tokens": usage.tokens_in if usage else None,
                      "completion_tokens": usage.tokens_out if usage else None}
            if store is not None:
                store.set_many([(key, json.dumps(result).encode("utf-8"))], kind="chat", model=model)
            return result

        results = _run_rows(todo, job, concurrency, f"chat {model}", progress)
        spec = {output_column: ("reply", "string"), "finish_reason": ("finish_reason", "string"),
                "prompt_tokens": ("prompt_tokens", "Int64"), "completion_tokens": ("completion_tokens", "Int64"),
                error_column: ("error", "string")}
        for col, (field, dtype) in spec.items():
            current = df[col].tolist() if col in df.columns else [None] * n
            for pos, result in results.items():
                current[pos] = result.get(field)
            df[col] = pd.array([_plain(v) for v in current], dtype=dtype)
        df.attrs["skytells"] = provenance(client, what="chat", model=model, column=column, system=system,
                                          params=json.dumps(params, default=str) if params else None, rows=n,
                                          sent=len(todo))
        return df

    # ------------------------------------------------------------------ display

    def show_images(self, column: str = "output", caption: str | None = None, columns: int = 4, *,
                    size: int = 256):
        """A captioned grid of the images in ``column`` (URLs, data URIs, PIL images), rows in order."""
        from skytells_lab.notebook.display import show_images

        rows = self._df[self._df[column].notna()]
        captions = None if caption is None else [str(v) for v in rows[caption].tolist()]
        if captions is None:
            captions = [str(i) for i in rows.index]
        return show_images(rows[column].tolist(), captions=captions, columns=columns, size=size)
