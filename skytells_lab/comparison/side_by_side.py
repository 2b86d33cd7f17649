"""compare(): the same inputs to several models, concurrently, across backends; the Comparison result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from html import escape
from typing import Any

from skytells_lab.comparison import calls, display
from skytells_lab.comparison.metrics import diff_html
from skytells_lab.comparison.targets import Target, resolve_targets

FRAME_COLUMNS = [
    "item",
    "input",
    "model",
    "backend",
    "modality",
    "seed",
    "output",
    "latency",
    "predict_time",
    "tokens",
    "credits",
    "status",
    "error",
    "request_id",
]


def compare(
    models,
    inputs,
    client: Any = None,
    clients: dict[str, Any] | None = None,
    *,
    seeds: list[int] | None = None,
    modality: str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 64,
    system: str | None = None,
    input_key: str = "prompt",
    batch_size: int = 64,
    concurrency: int = 1,
    timeout: float | None = None,
    progress: bool | None = None,
    **params: Any,
) -> Comparison:
    """Send the same `inputs` to every model in `models` and collect one tidy row per input × model (× seed).

    - models: slugs (served by `client`, default `sl.connect()`), "backend:slug" strings naming a client
      of `clients` ("local" and "service" also work without one), or (client, slug) pairs, so service and
      local models mix in one comparison; or dicts `{"model": ..., "client": ..., "label": ..., "params":
      {...}}` to give one model its own parameters (the same model at two temperatures or dimensions).
    - Each model's catalog entry decides how it is called: embedding models through `embeddings`
      (batches of `batch_size`), chat models through `chat.completions` at `temperature` with
      `max_tokens`, image models as predictions with `{input_key: input, "seed": seed, **params}` for each
      of `seeds` (default `[0]`), which makes a seeds × prompts × models grid.
    - Models run side by side on threads with sync clients, each with `concurrency` requests in flight
      (1 keeps a model's latencies free of queueing behind itself), so this works the same from a script,
      a notebook cell (running event loop or not) and a widget callback; progress via tqdm.auto.
    """
    targets = resolve_targets(models, client=client, clients=clients, modality=modality)
    items, labels = calls.as_items(inputs)
    seeds = list(seeds) if seeds is not None else [0]
    shared = {"temperature": temperature, "max_tokens": max_tokens, "system": system, **params}
    jobs: list[tuple[tuple, Callable[[], Any]]] = []
    for t in targets:
        own = {**shared, **t.params}
        if t.modality == "embeddings":
            extra = {k: v for k, v in own.items() if k in calls.EMBEDDING_PARAMS}
            jobs.append(
                (
                    (t.label,),
                    _bind(
                        calls.embed,
                        t.client,
                        t.slug,
                        [str(x) for x in items],
                        model=t.model,
                        batch_size=batch_size,
                        **extra,
                    ),
                )
            )
        elif t.modality == "chat":
            extra = {k: v for k, v in own.items() if k in calls.CHAT_PARAMS}
            for i, item in enumerate(items):
                jobs.append(
                    (
                        (t.label, i, None),
                        _bind(
                            calls.chat, t.client, t.slug, item, model=t.model, system=own["system"], **extra
                        ),
                    )
                )
        else:
            for i, item in enumerate(items):
                for seed in seeds:
                    payload = calls.image_input(t.model, item, own, seed=seed, input_key=input_key)
                    jobs.append(
                        (
                            (t.label, i, seed),
                            _bind(
                                calls.predict,
                                t.client,
                                t.slug,
                                payload,
                                model=t.model,
                                fetch_images=t.modality == "image",
                                timeout=timeout,
                            ),
                        )
                    )
    results = _run(jobs, concurrency, progress)
    by_label = {t.label: t for t in targets}
    rows, images, vectors = [], {}, {}
    for t in targets:
        if t.modality == "embeddings":
            matrix, outcomes = results[(t.label,)]
            vectors[t.label] = matrix
            rows.extend(_row(t, i, labels[i], items[i], None, o) for i, o in enumerate(outcomes))
            continue
        for i, item in enumerate(items):
            for seed in [None] if t.modality == "chat" else seeds:
                outcome = results[(t.label, i, seed)]
                rows.append(_row(t, i, labels[i], item, seed, outcome))
                if outcome.images:
                    images[(t.label, i, seed)] = outcome.images
    provenance = {
        "kind": "comparison",
        "models": {
            label: {
                "slug": t.slug,
                "backend": t.backend,
                "modality": t.modality,
                "params": t.params,
                "base_url": str(getattr(t.client, "base_url", "")),
            }
            for label, t in by_label.items()
        },
        "params": shared,
        "seeds": seeds,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "skytells_lab_version": _version(),
        "latency_note": "embedding latency, tokens and credits per item: the batch request's, divided evenly",
    }
    return Comparison(
        targets, rows, images=images, vectors=vectors, items=items, seeds=seeds, provenance=provenance
    )


def _bind(fn: Callable, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: fn(*args, **kwargs)


def _run(jobs: list, concurrency: int, progress: bool | None) -> dict:
    """Run the jobs, models side by side and at most `concurrency` requests in flight per model.

    Jobs are keyed (label, ...). Each model has its own queue and workers, so a fast model never waits
    behind a slow one and a model's latencies do not include waiting behind its own other requests on a
    one-worker backend. The models' first requests go one after another: on a cold local backend each
    loads its weights alone (concurrent first loads of torch models in one process are fragile).
    """
    import collections
    import queue
    import threading

    from tqdm.auto import tqdm

    queues: dict[str, collections.deque] = {}
    for key, fn in jobs:
        queues.setdefault(key[0], collections.deque()).append((key, fn))
    done: queue.Queue = queue.Queue()

    def worker(pending: collections.deque, after: threading.Event, first: threading.Event) -> None:
        after.wait()
        while True:
            try:
                key, fn = pending.popleft()
            except IndexError:
                return
            try:
                done.put((key, fn(), None))
            except Exception as err:  # noqa: BLE001 - re-raised in the caller's thread
                done.put((key, None, err))
            first.set()

    results: dict = {}
    slots = max(1, concurrency)
    with ThreadPoolExecutor(max_workers=slots * len(queues), thread_name_prefix="skytells-compare") as pool:
        after = threading.Event()
        after.set()
        for pending in queues.values():
            first = threading.Event()
            for _ in range(min(slots, len(pending))):
                pool.submit(worker, pending, after, first)
            after = first
        with tqdm(
            total=len(jobs), desc="compare", unit="call", disable=progress is False, leave=False
        ) as bar:
            for _ in range(len(jobs)):
                key, result, err = done.get()
                if err is not None:
                    raise err
                results[key] = result
                bar.update(1)
    return results


def _row(t: Target, position: int, item_label: Any, item: Any, seed: int | None, o: calls.Outcome) -> dict:
    output = o.output
    if t.modality in ("image", "prediction") and isinstance(output, list):
        output = output[0] if len(output) == 1 else (output or None)
    return {
        "item": item_label,
        "input": item if isinstance(item, str) else repr(item),
        "model": t.label,
        "backend": t.backend,
        "modality": t.modality,
        "seed": seed,
        "output": output,
        "latency": o.latency,
        "predict_time": o.predict_time,
        "tokens": o.tokens,
        "credits": o.credits,
        "status": o.status,
        "error": o.error,
        "request_id": o.request_id,
        "_position": position,
    }


def _version() -> str:
    from skytells_lab._version import __version__

    return __version__


class Comparison:
    """The result of :func:`compare`.

    `frame()` one row per input × model (× seed); `summary()` one row per model; `texts()` chat outputs
    side by side; `agreement()` how embedding models agree (compare_spaces); `image(model, item, seed)`
    the PIL images. In a notebook it shows a card with the summary, text diffs and image grids.
    """

    def __init__(
        self,
        targets: list[Target],
        rows: list[dict],
        *,
        images: dict,
        vectors: dict,
        items: list,
        seeds: list,
        provenance: dict,
    ):
        self.targets = targets
        self._rows = rows
        self._images = images
        self.vectors = vectors
        self.items = items
        self.seeds = seeds
        self.provenance = provenance
        self._agreement_cache: dict = {}

    # ------------------------------------------------------------------ frames

    def frame(self):
        """One row per input × model (× seed for image models), provenance in `df.attrs`."""
        import pandas as pd

        df = pd.DataFrame(
            [{k: v for k, v in r.items() if k != "_position"} for r in self._rows], columns=FRAME_COLUMNS
        )
        df["seed"] = df["seed"].astype("Int64")
        for col in ("latency", "predict_time", "tokens", "credits"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        df.attrs.update(self.provenance)
        return df

    def summary(self):
        """Per model: calls, failures, mean and p95 latency, mean predict_time, tokens, credits (cost)."""
        import pandas as pd

        df = self.frame()
        rows = []
        for t in self.targets:
            part = df[df["model"] == t.label]
            ok = part["status"] == "succeeded"
            latency = part.loc[ok, "latency"]
            rows.append(
                {
                    "model": t.label,
                    "backend": t.backend,
                    "modality": t.modality,
                    "calls": len(part),
                    "failures": int((~ok).sum()),
                    "mean_latency": float(latency.mean()) if len(latency) else float("nan"),
                    "p95_latency": float(latency.quantile(0.95)) if len(latency) else float("nan"),
                    "mean_predict_time": float(part["predict_time"].mean()),
                    "tokens": float(part["tokens"].sum(min_count=1)),
                    "credits": float(part["credits"].sum(min_count=1)),
                }
            )
        out = pd.DataFrame(rows).set_index("model")
        out.attrs.update(self.provenance)
        return out

    def texts(self):
        """Chat outputs wide: one row per input, one column per chat model."""
        df = self.frame()
        chat = df[df["modality"] == "chat"]
        if chat.empty:
            return chat
        wide = chat.pivot_table(index="item", columns="model", values="output", aggfunc="first", sort=False)
        wide.insert(0, "input", chat.groupby("item", sort=False)["input"].first())
        return wide

    def image(self, model: str, item: Any = 0, seed: int | None = None) -> list:
        """The PIL images `model` made for input `item` (its label) with `seed` (default: the first seed)."""
        position = self._position(item)
        seed = self.seeds[0] if seed is None else seed
        return list(self._images.get((model, position, seed), []))

    def _position(self, item: Any) -> int:
        for r in self._rows:
            if r["item"] == item:
                return r["_position"]
        raise KeyError(f"no input labelled {item!r}")

    def agreement(self, k: int = 5):
        """Per pair of embedding models: retrieval agreement (mean Jaccard@k of each item's neighbours) and
        similarity correlation (Spearman of pairwise cosines), plus linear CKA, via `compare_spaces`."""
        import numpy as np
        import pandas as pd

        labels = [t.label for t in self.targets if t.modality == "embeddings"]
        rows = []
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                if len(self.items) < 3 or np.isnan(self.vectors[a]).any() or np.isnan(self.vectors[b]).any():
                    continue  # a failed batch, or too few items for neighbourhoods
                result = self.spaces(a, b, k)
                s = result.summary
                rows.append(
                    {
                        "model_a": a,
                        "model_b": b,
                        "k": s["k"],
                        "retrieval_agreement": s["jaccard"],
                        "similarity_correlation": s["spearman"],
                        "cka": s["cka"],
                    }
                )
        return pd.DataFrame(
            rows, columns=["model_a", "model_b", "k", "retrieval_agreement", "similarity_correlation", "cka"]
        )

    def spaces(self, a: str, b: str, k: int = 5):
        """`compare_spaces` of two embedding models' vectors of the inputs: per-item Jaccard@k with the
        inputs alongside, `most_moved(n)`, and the summary (k is capped at the number of inputs - 1)."""
        import pandas as pd

        from skytells_lab.analysis import EmbeddingSpace, compare_spaces

        k = max(1, min(k, len(self.items) - 1))
        if (a, b, k) not in self._agreement_cache:
            data = pd.DataFrame({"input": [str(x) for x in self.items]}, index=self._labels())
            self._agreement_cache[(a, b, k)] = compare_spaces(
                EmbeddingSpace(self.vectors[a], data, model=a),
                EmbeddingSpace(self.vectors[b], data, model=b),
                k=k,
                progress=False,
            )
        return self._agreement_cache[(a, b, k)]

    def _labels(self) -> list:
        """The inputs' labels in input order."""
        by_position = {r["_position"]: r["item"] for r in self._rows}
        return [by_position[i] for i in range(len(self.items))]

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        failures = sum(r["status"] != "succeeded" for r in self._rows)
        names = ", ".join(t.label for t in self.targets)
        grid = f" × {len(self.seeds)} seeds" if self._has_images() and len(self.seeds) > 1 else ""
        return (
            f"Comparison({len(self.targets)} models × {len(self.items)} inputs{grid}: {names}; "
            f"{len(self._rows)} rows, {failures} failed)"
        )

    def _has_images(self) -> bool:
        return any(t.modality in ("image", "prediction") for t in self.targets)

    def _repr_html_(self) -> str:
        summary = self.summary().reset_index()
        sections = [
            display.facts(
                [
                    ("models", ", ".join(t.label for t in self.targets)),
                    ("inputs", len(self.items)),
                    ("rows", len(self._rows)),
                ]
            ),
            display.heading("summary"),
            display.frame_table(summary),
        ]
        sections += [self._texts_html(), self._images_html(), self._agreement_html()]
        return display.card("Comparison", *[s for s in sections if s])

    def _texts_html(self, max_rows: int = 20) -> str:
        chat = [t.label for t in self.targets if t.modality == "chat"]
        if not chat:
            return ""
        by_key = {(r["model"], r["_position"]): r for r in self._rows}
        rows = []
        for i, item in enumerate(self.items[:max_rows]):
            reference = by_key[(chat[0], i)]
            cells = [escape(str(item))]
            for label in chat:
                r = by_key[(label, i)]
                if r["status"] != "succeeded":
                    cells.append(f"<span style='color:#cf222e'>{escape(r['error'] or r['status'])}</span>")
                elif label == chat[0] or reference["status"] != "succeeded":
                    cells.append(escape(r["output"] or ""))
                else:
                    cells.append(diff_html(reference["output"] or "", r["output"] or ""))
            rows.append(cells)
        note = (
            (
                f"<div style='color:#57606a'>differences against {escape(chat[0])}: "
                "<ins style='background:#dfd;text-decoration:none'>added</ins> "
                "<del style='background:#fdd;color:#900'>removed</del></div>"
            )
            if len(chat) > 1
            else ""
        )
        return (
            display.heading("text outputs") + note + display.table(["input", *chat], rows, escape_cells=False)
        )

    def _images_html(self, max_rows: int = 12) -> str:
        """A grid: one row per input, one column per model and seed (seeds × prompts × models)."""
        image_models = [t for t in self.targets if t.modality == "image"]
        if not image_models:
            return ""
        by_key = {(r["model"], r["_position"], r["seed"]): r for r in self._rows}
        columns = [(t, seed) for t in image_models for seed in self.seeds]
        several_seeds = len(self.seeds) > 1

        def header(t, seed) -> str:
            if not several_seeds:
                return t.label
            return f"seed {seed}" if len(image_models) == 1 else f"{t.label} · seed {seed}"

        rows = []
        for i, item in enumerate(self.items[:max_rows]):
            cells = [escape(str(item))]
            for t, seed in columns:
                r = by_key[(t.label, i, seed)]
                caption = f"seed {seed} · {_seconds(r['latency'])}" + (
                    f" · {r['credits']:.4g} cr" if r["credits"] is not None else "")
                cells.append(display.image_cell(self._images.get((t.label, i, seed), []), caption, r["error"]))
            rows.append(cells)
        title = "images" + (f" ({len(self.items) - max_rows} more inputs not shown)"
                            if len(self.items) > max_rows else "")
        return display.heading(title) + display.table(
            ["input", *(header(t, seed) for t, seed in columns)], rows, escape_cells=False
        )

    def _agreement_html(self) -> str:
        if sum(t.modality == "embeddings" for t in self.targets) < 2:
            return ""
        agreement = self.agreement()
        if agreement.empty:
            return ""
        return display.heading("embedding agreement") + display.frame_table(agreement)

    def __getstate__(self):
        # clients hold sockets: keep the data, drop the clients
        state = dict(self.__dict__)
        state["targets"] = [dataclasses.replace(t, client=None) for t in self.targets]
        return state


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
