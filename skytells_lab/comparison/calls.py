"""One request per modality, measured the same way, for comparisons and parity runs alike.

Each function returns :class:`Outcome` objects and never raises for an API error: a failed call is a
row with `status="failed"` and its error, so one bad model does not sink a whole comparison.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from skytells_lab._pricing import credits_for

# request parameters per modality; anything else given to compare() goes into image inputs
CHAT_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty")
EMBEDDING_PARAMS = ("dimensions",)
NOT_IMAGE_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "dimensions",
    "system",
)


@dataclass
class Outcome:
    output: Any = None  # text, a vector, or a list of output URLs
    latency: float | None = None  # wall seconds of the request (amortized per item for batched embeddings)
    predict_time: float | None = None
    tokens: int | None = None
    credits: float | None = None
    status: str = "succeeded"
    error: str | None = None
    request_id: str | None = None
    images: list = field(default_factory=list, repr=False)  # PIL images of an image prediction
    cached: bool = False  # answered by the result cache: left out of every timing

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def as_items(inputs) -> tuple[list, list]:
    """The inputs as a list, and each one's label: a pandas Series' index, else the position."""
    if isinstance(inputs, (str, dict)):
        inputs = [inputs]
    index = getattr(inputs, "index", None)
    items = list(inputs.tolist() if hasattr(inputs, "tolist") else inputs)
    if not items:
        raise ValueError("at least one input is needed")
    if index is None or callable(index) or len(index) != len(items):
        return items, list(range(len(items)))
    return items, list(index)


def _failed(err: BaseException, started: float, **fields: Any) -> Outcome:
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return Outcome(
        status="failed",
        error=f"{type(err).__name__}: {message}",
        latency=time.perf_counter() - started,
        **fields,
    )


def estimate_credits(
    model: Any, *, tokens: int = 0, assets: int = 0, predict_time: float = 0.0
) -> float | None:
    """Credits under the catalog's pricing, for calls whose response reports none (chat, embeddings)."""
    return credits_for(getattr(model, "pricing", None), tokens=tokens, assets=assets, predict_time=predict_time)


def messages_for(prompt: Any, system: str | None = None) -> list[dict]:
    """A prompt string (or a ready list of messages) as chat messages."""
    if isinstance(prompt, list):
        return prompt
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": str(prompt)}]


def chat(
    client: Any, slug: str, prompt: Any, *, model: Any = None, system: str | None = None, **params: Any
) -> Outcome:
    started = time.perf_counter()
    try:
        completion = client.chat.completions.create(
            model=slug, messages=messages_for(prompt, system), **params
        )
    except Exception as err:  # noqa: BLE001 - any failure becomes a row
        return _failed(err, started)
    latency = time.perf_counter() - started
    usage = completion.usage
    tokens = usage.total_tokens if usage is not None else None
    credits = _reported_credits(completion.raw)
    if credits is None:
        credits = estimate_credits(model, tokens=tokens or 0)
    return Outcome(
        output=completion.text,
        latency=latency,
        tokens=tokens,
        credits=credits,
        request_id=completion.id or None,
    )


def embed(
    client: Any, slug: str, texts: list[str], *, model: Any = None, batch_size: int = 64, **params: Any
) -> tuple[Any, list[Outcome]]:
    """Vectors (n, d) float32 (None where a batch failed) and one Outcome per text.

    Texts go in batches; each item's latency and tokens are its batch's, divided evenly.
    """
    import numpy as np

    rows: list[Any] = [None] * len(texts)
    outcomes: list[Outcome] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        began = time.perf_counter()
        try:
            response = client.embeddings.create(model=slug, input=chunk, **params)
        except Exception as err:  # noqa: BLE001 - any failure becomes rows
            failed = _failed(err, began)
            failed.latency /= len(chunk)
            outcomes.extend(dataclasses.replace(failed) for _ in chunk)
            continue
        share = (time.perf_counter() - began) / len(chunk)
        usage = response.usage
        total = usage.total_tokens if usage is not None and usage.total_tokens is not None else None
        credits = _reported_credits(response.raw)
        if credits is None:
            credits = estimate_credits(model, tokens=total or 0)
        for i, vector in enumerate(response.vectors):
            rows[start + i] = vector
            outcomes.append(
                Outcome(
                    output=vector,
                    latency=share,
                    tokens=None if total is None else total / len(chunk),
                    credits=None if credits is None else credits / len(chunk),
                    request_id=getattr(response, "id", None),
                )
            )
    width = max((len(r) for r in rows if r is not None), default=0)
    vectors = np.full((len(texts), width), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None and len(row) == width:
            vectors[i] = row
    return vectors, outcomes


def predict(
    client: Any,
    slug: str,
    input: dict,
    *,
    model: Any = None,
    fetch_images: bool = True,
    timeout: float | None = None,
    cache: bool = False,
) -> Outcome:
    """Create a prediction, wait for it, and fetch its images (PIL) when it made some.

    Without `cache` the result cache is neither read nor written: the backend answers every call, and the
    create asks it to hold the answer until done (`await`), so the latency is not rounded up to a poll.
    """
    from skytells_lab.api._operations import prediction_failed
    from skytells_lab.api.errors import PredictionFailed

    started = time.perf_counter()
    try:
        if cache:
            poll = 0.02 if getattr(client, "is_local", False) else 0.5
            prediction = client.run(slug, input=input, timeout=timeout, poll_interval=poll)
        else:
            prediction = client.predictions.create(model=slug, input=input, await_=True, timeout=timeout)
            prediction = client.predictions.wait(prediction, timeout=timeout)
            if str(prediction.status) != "succeeded":
                raise prediction_failed(prediction)
    except PredictionFailed as err:
        p = err.prediction
        out = _failed(err, started, request_id=getattr(p, "id", None))
        if p is not None:
            out.status = str(p.status)
            out.error = p.error or out.error
            out.predict_time = p.metrics.predict_time
        return out
    except Exception as err:  # noqa: BLE001 - any failure becomes a row
        return _failed(err, started)
    images = []
    if fetch_images and prediction.outputs:
        try:
            images = list(prediction.images())
        except Exception as err:  # noqa: BLE001 - the prediction ran; its outputs could not be read
            return _failed(err, started, output=prediction.outputs, request_id=prediction.id)
    credits = prediction.credits_used
    if credits is None:
        credits = estimate_credits(
            model, assets=len(prediction.outputs), predict_time=prediction.metrics.predict_time or 0.0
        )
    return Outcome(
        output=list(prediction.outputs),
        latency=time.perf_counter() - started,
        predict_time=prediction.metrics.predict_time,
        credits=credits,
        request_id=prediction.id,
        images=images,
        cached=bool(getattr(prediction, "_cached", False)),
    )


def _reported_credits(raw: Any) -> float | None:
    if not isinstance(raw, dict):
        return None
    value = raw.get("credits_used")
    if value is None and isinstance(raw.get("metadata"), dict):
        value = (raw["metadata"].get("billing") or {}).get("credits_used")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def image_input(
    model: Any, prompt: Any, params: dict, *, seed: int | None = None, input_key: str = "prompt"
) -> dict:
    """A prediction input: the prompt, the seed and those params the model's input schema accepts."""
    if isinstance(prompt, dict):
        payload = dict(prompt)
    else:
        payload = {input_key: prompt}
    payload.update({k: v for k, v in params.items() if k not in NOT_IMAGE_PARAMS})
    if seed is not None:
        payload["seed"] = seed
    schema = getattr(model, "input_schema", None) or {}
    accepted = set(schema.get("properties") or {})
    if accepted:  # drop what the schema would reject, e.g. a chat-only parameter
        payload = {k: v for k, v in payload.items() if k in accepted or k == input_key}
    return payload
