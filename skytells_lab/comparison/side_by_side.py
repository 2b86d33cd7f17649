"""compare(): the same inputs to several models, concurrently, across backends; the Comparison result."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from html import escape
from typing import Any

from skytells_lab import _html
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
    "repeat",
    "output",
    "latency",
    "predict_time",
    "tokens",
    "credits",
    "status",
    "error",
    "request_id",
    "cached",
]
# per-call quality metrics, present when compare() was given references= or score=
QUALITY_COLUMNS = ["reference", "exact_match", "similarity", "score"]
# which way is better for each metric: +1 higher, -1 lower, 0 neither (a change is reported, not judged)
DIRECTION = {"latency": -1, "credits": -1, "tokens": 0, "score": 1, "exact_match": 1, "similarity": 1}


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
    repeats: int = 1,
    references=None,
    score: Callable | None = None,
    cache: bool = False,
    warmup: bool = True,
    resume: str | None = None,
    judge: Any = None,
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
    - Timings mean something: each model first answers one warm-up call (its first input; it loads the
      weights of a cold backend) that is left out of every figure (`warmup=False` skips it); the result
      cache is bypassed unless `cache=True`, and a call the cache answered is marked `cached` and left out
      of the latencies.
    - `repeats=n` sends each input n times per model (the seed varied where the model takes one: image
      seeds `seed + 1000·repeat`, chat `seed = seeds[0] + repeat` when n > 1); `metrics()` gives each
      metric's mean with a 95% interval (bootstrap over inputs), `differences()` paired tests against a
      baseline, `diff(baseline=...)` what changed per input beyond the noise floor.
    - `references` (one per input) add `exact_match` and `similarity` of text outputs to them; `score` is
      your function of `(output)`, `(output, input)` or `(output, input, reference)` returning a number or
      a bool (higher is better).
    - `resume="name"` journals every finished call on disk as it ends; after an interruption (Ctrl-C, a
      crash, a closed notebook) the same call with the same name sends only the calls not yet done, and
      `provenance["resumed"]` says how many were read back.
    - `judge=` a chat model (a slug on `client`, or (client, slug)) asks which of two chat answers is
      better, the first chat model's against each other's, every pair shown in a random order and again
      swapped: `judgments()` the replies, `judge_summary()` win rates, agreement and position bias.
    """
    targets = resolve_targets(models, client=client, clients=clients, modality=modality)
    items, labels = calls.as_items(inputs)
    seeds = list(seeds) if seeds is not None else [0]
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 1000:
        raise ValueError(f"repeats must be a whole number from 1 to 1000, not {repeats!r}")
    refs = _references(references, len(items))
    scorer = _scorer(score)
    shared = {"temperature": temperature, "max_tokens": max_tokens, "system": system, **params}
    jobs: list[tuple[tuple, Callable[[], Any]]] = []
    warmups: dict[str, Callable[[], Any]] = {}
    if resume is not None and not isinstance(resume, str):
        raise TypeError(f"resume is a name for this run (a string), not {resume!r}")
    for t in targets:
        own = {**shared, **t.params}
        if t.modality == "embeddings":
            extra = {k: v for k, v in own.items() if k in calls.EMBEDDING_PARAMS}
            texts = [str(x) for x in items]
            warmups[t.label] = _bind(calls.embed, t.client, t.slug, texts[:1], model=t.model, **extra)
            for r in range(repeats):
                jobs.append(
                    ((t.label, r), _bind(calls.embed, t.client, t.slug, texts, model=t.model,
                                         batch_size=batch_size, **extra))
                )
        elif t.modality == "chat":
            extra = {k: v for k, v in own.items() if k in calls.CHAT_PARAMS}
            warmups[t.label] = _bind(calls.chat, t.client, t.slug, items[0], model=t.model,
                                     system=own["system"], **extra)
            for r in range(repeats):
                varied = {**extra, "seed": extra.get("seed", seeds[0]) + r} if repeats > 1 else extra
                for i, item in enumerate(items):
                    jobs.append(
                        ((t.label, i, None, r), _bind(calls.chat, t.client, t.slug, item, model=t.model,
                                                      system=own["system"], **varied))
                    )
        else:
            first = calls.image_input(t.model, items[0], own, seed=seeds[0], input_key=input_key)
            # never through the cache: a warm-up that stored its answer would make the first timed call a hit
            warmups[t.label] = _bind(calls.predict, t.client, t.slug, first, model=t.model,
                                     fetch_images=False, timeout=timeout)
            for r in range(repeats):
                for i, item in enumerate(items):
                    for seed in seeds:
                        payload = calls.image_input(t.model, item, own, seed=seed + 1000 * r, input_key=input_key)
                        jobs.append(
                            ((t.label, i, seed, r), _bind(calls.predict, t.client, t.slug, payload,
                                                          model=t.model, fetch_images=t.modality == "image",
                                                          timeout=timeout, cache=cache))
                        )
    resumed: list = []
    if resume is not None:
        from skytells_lab.comparison.journal import journal_key, journaled, open_journal

        journal = open_journal()
        by_name = {t.label: t for t in targets}
        request = [repr(x) for x in items] + [shared, seeds, input_key, batch_size]
        keys = {key: journal_key(resume, by_name[key[0]], key, request) for key, _ in jobs}
        stored = journal.get_many(keys.values())
        # a model whose calls are all in the journal needs no warm-up
        warmups = {label: fn for label, fn in warmups.items()
                   if any(k[0] == label and keys[k] not in stored for k in keys)}
        jobs = [(key, journaled(journal, keys[key], fn, resumed)) for key, fn in jobs]
    results, warm = _run(jobs, concurrency, progress, warmups if warmup else {})
    by_label = {t.label: t for t in targets}
    rows, images, vectors = [], {}, {}
    for t in targets:
        for r in range(repeats):
            if t.modality == "embeddings":
                matrix, outcomes = results[(t.label, r)]
                if r == 0:
                    vectors[t.label] = matrix
                rows.extend(_row(t, i, labels[i], items[i], None, r, o) for i, o in enumerate(outcomes))
                continue
            for i, item in enumerate(items):
                for seed in [None] if t.modality == "chat" else seeds:
                    outcome = results[(t.label, i, seed, r)]
                    # the seed the call was sent with
                    chat_seed = {**shared, **t.params}.get("seed", seeds[0])
                    sent = seed + 1000 * r if seed is not None else (chat_seed + r if repeats > 1 else None)
                    rows.append(_row(t, i, labels[i], item, sent, r, outcome))
                    if outcome.images and r == 0:
                        images[(t.label, i, seed)] = outcome.images
    if refs is not None or scorer is not None:
        for row in rows:
            _judge_row(row, refs, scorer)
    judgments: list[dict] = []
    if judge is not None:
        from skytells_lab.comparison.judge import judge_pairs

        judge_target = resolve_targets([judge], client=client, clients=clients, modality="chat")[0]
        chat_labels = [t.label for t in targets if t.modality == "chat"]
        if len(chat_labels) < 2:
            raise ValueError("judge= compares chat answers: give at least two chat models")
        judgments = judge_pairs(judge_target, rows, chat_labels[0], chat_labels[1:], concurrency=concurrency)
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
        "repeats": repeats,
        "cache": "used (cached calls are left out of latencies)" if cache else "bypassed",
        "warmup_seconds": {label: _warm_seconds(o) for label, o in warm.items()},
        "resume": resume,
        "judge": None if judge is None else f"{judge_target.backend}:{judge_target.slug}",
        "resumed": len(resumed),
        "created_at": datetime.now(timezone.utc).isoformat(),
        "skytells_lab_version": _version(),
        "latency_note": "embedding latency, tokens and credits per item: the batch request's, divided evenly; "
        "each model's warm-up call is left out",
    }
    return Comparison(
        targets, rows, images=images, vectors=vectors, items=items, seeds=seeds, provenance=provenance,
        repeats=repeats, quality=[c for c in QUALITY_COLUMNS if any(c in r for r in rows)], judgments=judgments,
    )


def _bind(fn: Callable, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: fn(*args, **kwargs)


def _references(references, n: int) -> list | None:
    if references is None:
        return None
    refs = list(references.tolist() if hasattr(references, "tolist") else references)
    if len(refs) != n:
        raise ValueError(f"references: one per input is needed, got {len(refs)} for {n} inputs")
    return refs


def _scorer(score: Callable | None) -> Callable | None:
    """`score` called with as many of (output, input, reference) as it takes."""
    if score is None:
        return None
    if not callable(score):
        raise TypeError(f"score must be a function of (output[, input[, reference]]), not {score!r}")
    import inspect

    try:
        parameters = inspect.signature(score).parameters.values()
        varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters)
        count = 3 if varargs else sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                      for p in parameters)
    except (TypeError, ValueError):
        count = 1
    count = min(max(count, 1), 3)
    return lambda output, item, reference: score(*(output, item, reference)[:count])


def _judge_row(row: dict, refs: list | None, scorer: Callable | None) -> None:
    """Add the row's quality metrics: exact match and similarity to its reference, and the user's score."""
    import math

    from skytells_lab.comparison.metrics import text_similarity

    ok = row["status"] == "succeeded"
    output = row["output"]
    reference = refs[row["_position"]] if refs is not None else None
    if refs is not None:
        row["reference"] = reference
        textual = ok and isinstance(output, str) and isinstance(reference, str)
        row["exact_match"] = float(output.strip() == reference.strip()) if textual else math.nan
        row["similarity"] = text_similarity(output, reference) if textual else math.nan
    if scorer is not None:
        value = math.nan
        if ok:
            value = float(scorer(output, row["_item"], reference))
            if not math.isfinite(value):
                raise ValueError(f"score returned {value!r} for input {row['item']!r}; it must be a finite number")
        row["score"] = value


def _warm_seconds(outcome: Any) -> float | None:
    if isinstance(outcome, tuple):  # embeddings: (vectors, outcomes)
        outcome = outcome[1][0] if outcome[1] else None
    return None if outcome is None or outcome.latency is None else round(outcome.latency, 4)


def _run(jobs: list, concurrency: int, progress: bool | None, warmups: dict) -> tuple[dict, dict]:
    """Run the jobs, models side by side and at most `concurrency` requests in flight per model; return
    the results by key and the warm-up results by label.

    Jobs are keyed (label, ...). Each model has its own queue and workers, so a fast model never waits
    behind a slow one and a model's latencies do not include waiting behind its own other requests on a
    one-worker backend. A model's warm-up call (from `warmups`) runs alone before its jobs, and the
    models' warm-ups go one after another: on a cold local backend each loads its weights alone
    (concurrent first loads of torch models in one process are fragile) and no timed call waits on a load.
    """
    import collections
    import queue
    import threading

    from tqdm.auto import tqdm

    queues: dict[str, collections.deque] = {}
    for key, fn in jobs:
        queues.setdefault(key[0], collections.deque()).append((key, fn))
    done: queue.Queue = queue.Queue()
    warm: dict = {}

    def starter(label: str, after: threading.Event, ready: threading.Event) -> None:
        after.wait()
        try:
            if label in warmups:
                warm[label] = warmups[label]()
        except Exception as err:  # noqa: BLE001 - the timed calls report the failure in their rows
            warm[label] = calls.Outcome(status="failed", error=f"{type(err).__name__}: {err}")
        finally:
            ready.set()

    def worker(pending: collections.deque, ready: threading.Event) -> None:
        ready.wait()
        while True:
            try:
                key, fn = pending.popleft()
            except IndexError:
                return
            try:
                done.put((key, fn(), None))
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread (Ctrl-C too)
                done.put((key, None, err))
                return  # the comparison stops here: start no further call

    results: dict = {}
    slots = max(1, concurrency)
    workers = (slots + 1) * len(queues)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="skytells-compare") as pool:
        after = threading.Event()
        after.set()
        for label, pending in queues.items():
            ready = threading.Event()
            pool.submit(starter, label, after, ready)
            for _ in range(min(slots, len(pending))):
                pool.submit(worker, pending, ready)
            after = ready
        with tqdm(
            total=len(jobs), desc="compare", unit="call", disable=progress is False, leave=False
        ) as bar:
            try:
                for _ in range(len(jobs)):
                    key, result, err = done.get()
                    if err is not None:
                        raise err
                    results[key] = result
                    bar.update(1)
            except BaseException:
                for pending in queues.values():  # stop: the calls in flight finish, no new one starts
                    pending.clear()
                raise
    return results, warm


def _row(t: Target, position: int, item_label: Any, item: Any, seed: int | None, repeat: int,
         o: calls.Outcome) -> dict:
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
        "repeat": repeat,
        "output": output,
        "latency": o.latency,
        "predict_time": o.predict_time,
        "tokens": o.tokens,
        "credits": o.credits,
        "status": o.status,
        "error": o.error,
        "request_id": o.request_id,
        "cached": o.cached,
        "_position": position,
        "_item": item,
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
        repeats: int = 1,
        quality: list | None = None,
        judgments: list | None = None,
    ):
        self.targets = targets
        self._judgments = list(judgments or [])
        self.repeats = repeats
        self.quality = list(quality or [])
        self._rows = rows
        self._images = images
        self.vectors = vectors
        self.items = items
        self.seeds = seeds
        self.provenance = provenance
        self._agreement_cache: dict = {}

    # ------------------------------------------------------------------ frames

    def frame(self):
        """One row per input × model × repeat (× seed for image models), provenance in `df.attrs`."""
        import pandas as pd

        columns = FRAME_COLUMNS + self.quality
        df = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in self._rows],
                          columns=columns)
        df["seed"] = df["seed"].astype("Int64")
        df["repeat"] = df["repeat"].astype("int64")
        df["cached"] = df["cached"].astype(bool)
        for col in ("latency", "predict_time", "tokens", "credits", *(c for c in self.quality if c != "reference")):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        df.attrs.update(self.provenance)
        return df

    def _metric_names(self) -> list[str]:
        return ["latency", "credits", "tokens", *(c for c in self.quality if c != "reference")]

    def _per_input(self, df=None):
        """Each metric's mean over repeats (and seeds) per model and input, succeeded calls only; latency
        from calls the backend answered (never the cache). Rows: (model, position)."""
        import numpy as np

        df = self.frame() if df is None else df
        df = df.assign(_position=[r["_position"] for r in self._rows])
        ok = df["status"] == "succeeded"
        values = df[self._metric_names()].where(ok, np.nan)
        values.loc[df["cached"], "latency"] = np.nan
        values[["model", "_position"]] = df[["model", "_position"]]
        return values.groupby(["model", "_position"], sort=False).mean()

    def summary(self):
        """Per model: calls, failures, cached calls, median latency and its spread (interquartile range) over
        the timed calls, mean predict_time, tokens and credits (cost), and the mean of each quality metric."""
        import pandas as pd

        df = self.frame()
        rows = []
        for t in self.targets:
            part = df[df["model"] == t.label]
            ok = part["status"] == "succeeded"
            latency = part.loc[ok & ~part["cached"], "latency"]
            row = {
                "model": t.label,
                "backend": t.backend,
                "modality": t.modality,
                "calls": len(part),
                "failures": int((~ok).sum()),
                "cached": int(part["cached"].sum()),
                "median_latency": float(latency.median()) if len(latency) else float("nan"),
                "latency_iqr": float(latency.quantile(0.75) - latency.quantile(0.25)) if len(latency)
                else float("nan"),
                "mean_predict_time": float(part["predict_time"].mean()),
                "tokens": float(part["tokens"].sum(min_count=1)),
                "credits": float(part["credits"].sum(min_count=1)),
            }
            for col in self.quality:
                if col != "reference":
                    row[col] = float(part.loc[ok, col].mean())
            rows.append(row)
        out = pd.DataFrame(rows).set_index("model")
        out.attrs.update(self.provenance)
        return out

    def metrics(self):
        """Per model × metric: the mean over inputs (each input's repeats averaged first) with its 95%
        interval, a percentile bootstrap over inputs; latency per call, credits and tokens per call."""
        import pandas as pd

        from skytells_lab.comparison.stats import bootstrap_ci

        per_input = self._per_input()
        rows = []
        for t in self.targets:
            if t.label not in per_input.index.get_level_values(0):
                continue
            part = per_input.loc[t.label]
            for metric in self._metric_names():
                values = part[metric].dropna()
                if values.empty:
                    continue
                low, high = bootstrap_ci(values.to_numpy())
                rows.append({"model": t.label, "metric": metric, "mean": float(values.mean()),
                             "ci_low": low, "ci_high": high, "inputs": len(values)})
        return pd.DataFrame(rows, columns=["model", "metric", "mean", "ci_low", "ci_high", "inputs"])

    def _baseline(self, baseline: str | None) -> str:
        labels = [t.label for t in self.targets]
        if baseline is None:
            return labels[0]
        if baseline not in labels:
            raise ValueError(f"baseline {baseline!r} is not one of the compared models: {labels}")
        return baseline

    def differences(self, baseline: str | None = None):
        """Each other model against `baseline` (default: the first model), per metric: the mean paired
        difference over inputs (model − baseline) with its 95% interval and p-value (paired bootstrap; exact
        McNemar for exact match), and a verdict: "better", "worse", "changed" (no better direction) or
        "not significant" when the interval includes zero."""
        import pandas as pd

        from skytells_lab.comparison.stats import paired_bootstrap, paired_passes

        base = self._baseline(baseline)
        per_input = self._per_input()
        rows = []
        for t in self.targets:
            if t.label == base:
                continue
            a, b = per_input.loc[base], per_input.loc[t.label]
            a, b = a.align(b, join="inner", axis=0)
            for metric in self._metric_names():
                if a[metric].isna().all() or b[metric].isna().all():
                    continue
                if metric == "exact_match":
                    d = paired_passes(a[metric].to_numpy(), b[metric].to_numpy())
                else:
                    d = paired_bootstrap(a[metric].to_numpy(), b[metric].to_numpy())
                rows.append({"model": t.label, "baseline": base, "metric": metric, "difference": d.mean,
                             "ci_low": d.low, "ci_high": d.high, "p_value": d.p_value, "inputs": d.n,
                             "test": d.test, "verdict": _verdict(metric, d.mean, d.significant)})
        columns = ["model", "baseline", "metric", "difference", "ci_low", "ci_high", "p_value", "inputs",
                   "test", "verdict"]
        out = pd.DataFrame(rows, columns=columns)
        out.attrs.update(self.provenance)
        return out

    def judgments(self):
        """The judge's replies: one row per input × model × order (the baseline's answer first or second)."""
        import pandas as pd

        columns = ["item", "input", "model", "baseline", "order", "swapped", "reply", "position", "preferred",
                   "error"]
        return pd.DataFrame([{k: j.get(k) for k in columns} for j in self._judgments], columns=columns)

    def judge_summary(self):
        """Per model against the baseline: wins, losses, ties, win rate (95% interval), agreement of the two
        orders and position bias; empty without `judge=`."""
        from skytells_lab.comparison.judge import summarize

        return summarize(self._judgments)

    def _aa_pairs(self) -> list[tuple[str, str]]:
        """Pairs of columns that are the same model with the same parameters on the same backend (A/A)."""
        pairs = []
        for i, a in enumerate(self.targets):
            for b in self.targets[i + 1:]:
                if (a.slug, a.backend, a.params) == (b.slug, b.backend, b.params):
                    pairs.append((a.label, b.label))
        return pairs

    def noise_floor(self) -> dict[str, float]:
        """Per metric, how far two runs of the same model on the same input differ (the 95th percentile of
        ``|difference|`` over inputs): between the columns of an A/A pair (the same model twice) when there is
        one, else between a model's repeats; 0 with one run of each. Changes within it are noise."""
        import numpy as np

        df = self.frame().assign(_position=[r["_position"] for r in self._rows])
        df = df[df["status"] == "succeeded"]
        gaps: dict[str, list] = {m: [] for m in self._metric_names()}
        pairs = self._aa_pairs()
        if pairs:
            per_input = self._per_input()
            for a, b in pairs:
                x, y = per_input.loc[a].align(per_input.loc[b], join="inner", axis=0)
                for m, found in gaps.items():
                    found.extend(np.abs((y[m] - x[m]).dropna()).tolist())
        elif self.repeats > 1:
            for _, part in df.groupby(["model", "_position"], sort=False):
                for m, found in gaps.items():
                    values = part.loc[~part["cached"], m] if m == "latency" else part[m]
                    values = values.dropna()
                    if len(values) > 1:
                        found.append(float(values.max() - values.min()))
        return {m: float(np.percentile(v, 95)) if v else 0.0 for m, v in gaps.items()}

    def diff(self, baseline: str | None = None, noise: dict[str, float] | None = None) -> Diff:
        """Per input, what got better or worse against `baseline` beyond the noise floor (`noise_floor()`,
        or your own `noise={metric: threshold}`): a :class:`Diff` with `.frame()` and a card."""
        base = self._baseline(baseline)
        floor = {**self.noise_floor(), **(noise or {})}
        per_input = self._per_input()
        labels = dict(zip([r["_position"] for r in self._rows], [r["item"] for r in self._rows], strict=True))
        inputs = {i: (x if isinstance(x, str) else repr(x)) for i, x in enumerate(self.items)}
        rows = []
        for t in self.targets:
            if t.label == base:
                continue
            a, b = per_input.loc[base].align(per_input.loc[t.label], join="inner", axis=0)
            for position in a.index:
                for metric in self._metric_names():
                    x, y = a.at[position, metric], b.at[position, metric]
                    if math.isnan(x) or math.isnan(y):  # a failed call or a metric the model lacks
                        continue
                    delta = float(y - x)
                    if abs(delta) <= floor.get(metric, 0.0):
                        continue
                    rows.append({"item": labels[position], "input": inputs[position], "model": t.label,
                                 "metric": metric, "baseline_value": float(x), "value": float(y),
                                 "difference": delta, "noise_floor": floor.get(metric, 0.0),
                                 "change": _verdict(metric, delta, True)})
        return Diff(base, rows, floor, self.provenance)

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
        repeats = f" × {self.repeats} repeats" if self.repeats > 1 else ""
        return (
            f"Comparison({len(self.targets)} models × {len(self.items)} inputs{grid}{repeats}: {names}; "
            f"{len(self._rows)} rows, {failures} failed, cache {self.provenance.get('cache', 'bypassed')})"
        )

    def _has_images(self) -> bool:
        return any(t.modality in ("image", "prediction") for t in self.targets)

    def _repr_html_(self) -> str:
        summary = self.summary().reset_index()
        sections = [
            _html.facts(
                [
                    ("models", ", ".join(t.label for t in self.targets)),
                    ("inputs", len(self.items)),
                    ("repeats", self.repeats),
                    ("rows", len(self._rows)),
                    ("result cache", self.provenance.get("cache", "bypassed")),
                    ("timings", "median and interquartile range; one warm-up call per model left out"),
                ]
            ),
            _html.heading("summary"),
            display.frame_table(summary),
        ]
        if len(self.targets) > 1:
            differences = self.differences()
            if not differences.empty:
                sections += [_html.heading(f"differences against {self.targets[0].label} (95% interval)"),
                             display.frame_table(differences.drop(columns="baseline"))]
        if self._judgments:
            sections += [_html.heading(f"pairwise judge ({self.provenance.get('judge')}), each pair in both orders"),
                         display.frame_table(self.judge_summary().drop(columns="baseline"))]
        sections += [self._texts_html(), self._images_html(), self._agreement_html()]
        return display.card("Comparison", *[s for s in sections if s])

    def _texts_html(self, max_rows: int = 20) -> str:
        chat = [t.label for t in self.targets if t.modality == "chat"]
        if not chat:
            return ""
        by_key = {(r["model"], r["_position"]): r for r in self._rows if r["repeat"] == 0}
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
            _html.heading("text outputs") + note + _html.table(["input", *chat], rows, escape_cells=False)
        )

    def _images_html(self, max_rows: int = 12) -> str:
        """A grid: one row per input, one column per model and seed (seeds × prompts × models)."""
        image_models = [t for t in self.targets if t.modality == "image"]
        if not image_models:
            return ""
        by_key = {(r["model"], r["_position"], r["seed"]): r for r in self._rows if r["repeat"] == 0}
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
        return _html.heading(title) + _html.table(
            ["input", *(header(t, seed) for t, seed in columns)], rows, escape_cells=False
        )

    def _agreement_html(self) -> str:
        if sum(t.modality == "embeddings" for t in self.targets) < 2:
            return ""
        agreement = self.agreement()
        if agreement.empty:
            return ""
        return _html.heading("embedding agreement") + display.frame_table(agreement)

    def __getstate__(self):
        # clients hold sockets: keep the data, drop the clients
        state = dict(self.__dict__)
        state["targets"] = [dataclasses.replace(t, client=None) for t in self.targets]
        return state


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _verdict(metric: str, difference: float, significant: bool) -> str:
    if not significant or difference == 0:
        return "not significant" if not significant else "no change"
    direction = DIRECTION.get(metric, 0)
    if direction == 0:
        return "changed"
    return "better" if difference * direction > 0 else "worse"


class Diff:
    """What changed per input against a baseline beyond the noise floor (from :meth:`Comparison.diff`).

    `frame()` one row per input × model × metric that changed, worst first; `regressions()` the rows
    that got worse; a one-line repr and a card.
    """

    def __init__(self, baseline: str, rows: list[dict], noise_floor: dict, provenance: dict):
        self.baseline = baseline
        self.noise_floor = noise_floor
        self.provenance = provenance
        order = {"worse": 0, "changed": 1, "better": 2}
        self._rows = sorted(rows, key=lambda r: (order.get(r["change"], 3), -abs(r["difference"])))

    def frame(self):
        import pandas as pd

        columns = ["item", "input", "model", "metric", "baseline_value", "value", "difference", "noise_floor",
                   "change"]
        df = pd.DataFrame(self._rows, columns=columns)
        df.attrs.update(self.provenance)
        df.attrs["baseline"] = self.baseline
        df.attrs["noise_floor"] = dict(self.noise_floor)
        return df

    def regressions(self):
        df = self.frame()
        return df[df["change"] == "worse"].reset_index(drop=True)

    def _counts(self) -> dict[str, int]:
        counts = {"worse": 0, "better": 0, "changed": 0}
        for r in self._rows:
            counts[r["change"]] = counts.get(r["change"], 0) + 1
        return counts

    def __repr__(self) -> str:
        c = self._counts()
        return (f"Diff(against {self.baseline}: {c['worse']} worse, {c['better']} better, {c['changed']} changed "
                f"beyond the noise floor)")

    def _repr_html_(self) -> str:
        c = self._counts()
        floor = ", ".join(f"{k} {v:.3g}" for k, v in self.noise_floor.items())
        sections = [
            _html.facts([("baseline", self.baseline), ("worse", c["worse"]), ("better", c["better"]),
                           ("changed", c["changed"]), ("noise floor", floor)]),
            _html.heading("changes, worst first"),
            display.frame_table(self.frame(), max_rows=20),
        ]
        return display.card("Diff", *sections, badge="regression" if c["worse"] else "no regression")

