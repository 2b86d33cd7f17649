"""parity(): the same requests to a reference and a candidate backend, judged by modality; ParityReport."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from html import escape
from typing import Any

import numpy as np

from skytells_lab import _html
from skytells_lab.comparison import calls, display, metrics
from skytells_lab.comparison.stats import bootstrap_ci
from skytells_lab.comparison.targets import Target, resolve_targets
from skytells_lab.comparison.tolerance import Tolerance, precision_name

# per modality: the columns a worst-first sort uses (ascending), after failed calls
_WORST_FIRST = {
    "embeddings": ["cosine"],
    "chat": ["exact_match", "similarity"],
    "image": ["ssim", "psnr"],
    "prediction": ["ssim", "psnr"],
}


def parity(
    reference: Any,
    candidate: Any,
    model: str,
    candidate_model: str | None = None,
    inputs=(),
    tolerance: Any = None,
    *,
    modality: str | None = None,
    seed: int = 0,
    temperature: float = 0.0,
    max_tokens: int = 32,
    system: str | None = None,
    input_key: str = "prompt",
    concurrency: int = 1,
    progress: bool | None = None,
    repeats: int = 1,
    cache: bool = False,
    warmup: bool = True,
    **params: Any,
) -> ParityReport:
    """Send the same requests to `reference` and `candidate` (two clients) and judge the candidate.

    - embeddings: per-item cosine of the two vectors; an item passes at cosine >= `tolerance.cosine`;
      each item's tier (fp32 ≥ 0.999, fp16/bf16 ≥ 0.99, int8 ≥ 0.98 by default) is reported too;
    - chat (temperature 0, fixed `seed`): exact match per item, and where the texts differ the first
      diverging token; an item passes when equal (fp32) or, at the reduced-precision tiers, when the
      texts agree on their first `tolerance.agree_tokens` words; passes at a rate >= `tolerance.exact_match`;
    - image (the same `seed`): PSNR, SSIM and mean absolute pixel difference of the first output image;
      an item passes at PSNR >= `tolerance.psnr` and SSIM >= `tolerance.ssim`.

    Requests go one at a time by default, so each side's latency is its own; raise `concurrency` for many
    inputs against a remote service. Each side first answers one warm-up call (the first input), left out
    of the figures, so a cold backend's model loading is not in the speed-up; latency is reported as the
    median and interquartile range of the timed calls, and the speed-up is the ratio of the medians. The
    result cache is bypassed unless `cache=True` (a call it answers is marked and left out of timings).
    `repeats=n` sends every input n times (seed + repeat): an item passes only when all its repeats pass,
    and the pass rate comes with a 95% interval (bootstrap over inputs).

    `model` is the slug on the reference; `candidate_model` the candidate's (default: the same). The
    modality comes from the reference's catalog (or `modality=`). `tolerance` is a Tolerance, a tier name
    ("fp16"), a cosine threshold, a dict of Tolerance fields, or None: the tier of the candidate model's
    dtype where its catalog entry tells it (the local server's does), else fp32.
    """
    ref = resolve_targets([(reference, model)], modality=modality)[0]
    cand = resolve_targets([(candidate, candidate_model or model)], modality=ref.modality)[0]
    ref.backend, cand.backend = _backend_names(ref, cand)
    dtype = (getattr(cand.model, "metadata", None) or {}).get("dtype") if cand.model is not None else None
    tol = Tolerance.coerce(tolerance, precision=precision_name(dtype) if dtype else None)
    items, labels = calls.as_items(inputs)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 1000:
        raise ValueError(f"repeats must be a whole number from 1 to 1000, not {repeats!r}")
    judge = {"embeddings": _embeddings, "chat": _chat}.get(ref.modality, _images)
    options = {"temperature": temperature, "max_tokens": max_tokens, "system": system, "input_key": input_key,
               "concurrency": concurrency, "progress": progress, "params": params, "cache": cache}
    warm = {}
    if warmup:  # loads a cold backend's weights outside the timed calls
        for side, t in (("reference", ref), ("candidate", cand)):
            warm[side] = _warm_up(t, items[0], seed=seed, **options).latency
    rows, images = [], []
    for r in range(repeats):
        more, pictures = judge(ref, cand, items, tol, seed=seed + r, **options)
        for row, label in zip(more, labels, strict=True):
            row["item"] = label
            row["repeat"] = r
        rows += more
        if r == 0:
            images = pictures
    provenance = {
        "kind": "parity",
        "modality": ref.modality,
        "model": ref.slug,
        "candidate_model": cand.slug,
        "reference": {
            "backend": ref.backend,
            "base_url": str(getattr(reference, "base_url", "")),
            "metadata": _meta(ref),
        },
        "candidate": {
            "backend": cand.backend,
            "base_url": str(getattr(candidate, "base_url", "")),
            "metadata": _meta(cand),
        },
        "seed": seed,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "params": params,
        "repeats": repeats,
        "cache": "used (cached calls are left out of timings)" if cache else "bypassed",
        "warmup_seconds": warm,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    return ParityReport(ref.modality, rows, tol, provenance, images=dict(zip(labels, images, strict=True)))


def _backend_names(ref: Target, cand: Target) -> tuple[str, str]:
    if ref.backend == cand.backend:
        return "reference", "candidate"
    return ref.backend, cand.backend


def _meta(t: Target) -> dict:
    meta = getattr(t.model, "metadata", None) or {}
    return {k: meta[k] for k in ("device", "dtype", "source") if k in meta}


def _warm_up(t: Target, item: Any, *, seed: int, temperature, max_tokens, system, input_key, params,
             **_) -> calls.Outcome:
    """One untimed call to `t` with the first input: a cold backend loads its weights here. Never through
    the result cache: a stored answer would make the first timed call a hit."""
    if t.modality == "embeddings":
        extra = {k: v for k, v in params.items() if k in calls.EMBEDDING_PARAMS}
        return calls.embed(t.client, t.slug, [str(item)], model=t.model, **extra)[1][0]
    if t.modality == "chat":
        extra = {k: v for k, v in params.items() if k in calls.CHAT_PARAMS}
        return calls.chat(t.client, t.slug, item, model=t.model, system=system, temperature=temperature,
                          max_tokens=max_tokens, seed=seed, **extra)
    payload = calls.image_input(t.model, item, params, seed=seed, input_key=input_key)
    return calls.predict(t.client, t.slug, payload, model=t.model, fetch_images=False)


def _pool_map(fn, jobs: list, concurrency: int, progress: bool | None, desc: str) -> list:
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="skytells-parity") as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        with tqdm(total=len(futures), desc=desc, unit="call", disable=progress is False, leave=False) as bar:
            results = []
            for future in futures:
                results.append(future.result())
                bar.update(1)
    return results


def _base(item: Any, r: calls.Outcome, c: calls.Outcome) -> dict:
    errors = [f"{side}: {o.error}" for side, o in (("reference", r), ("candidate", c)) if not o.ok]
    return {
        "input": item if isinstance(item, str) else repr(item),
        "reference_latency": r.latency,
        "candidate_latency": c.latency,
        "reference_cached": r.cached,
        "candidate_cached": c.cached,
        "error": "; ".join(errors) or None,
    }


def _embeddings(
    ref: Target, cand: Target, items: list, tol: Tolerance, *, concurrency, progress, params, **_
):
    texts = [str(x) for x in items]
    extra = {k: v for k, v in params.items() if k in calls.EMBEDDING_PARAMS}
    answers = _pool_map(
        lambda t: calls.embed(t.client, t.slug, texts, model=t.model, **extra),
        [(ref,), (cand,)],
        concurrency,
        progress,
        "parity",
    )
    (va, oa), (vb, ob) = answers
    cosines = metrics.cosine_rows(np.nan_to_num(va), np.nan_to_num(vb)) if va.size and vb.size else None
    rows = []
    for i, item in enumerate(items):
        row = _base(item, oa[i], ob[i])
        ok = oa[i].ok and ob[i].ok and cosines is not None
        cosine = float(cosines[i]) if ok else math.nan
        note = (
            f"dimensions differ: {va.shape[1]} vs {vb.shape[1]}"
            if ok and va.shape[1] != vb.shape[1]
            else None
        )
        row.update(
            cosine=cosine,
            tier=tol.tier_of(cosine) if ok else None,
            passed=bool(ok and cosine >= tol.cosine),
            note=note,
        )
        rows.append(row)
    return rows, [None] * len(items)


def _chat(
    ref: Target,
    cand: Target,
    items: list,
    tol: Tolerance,
    *,
    seed,
    temperature,
    max_tokens,
    system,
    concurrency,
    progress,
    params,
    **_,
):
    extra = {k: v for k, v in params.items() if k in calls.CHAT_PARAMS}
    chat_params = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed, **extra}
    jobs = [(t, item) for item in items for t in (ref, cand)]
    outcomes = _pool_map(
        lambda t, item: calls.chat(t.client, t.slug, item, model=t.model, system=system, **chat_params),
        jobs,
        concurrency,
        progress,
        "parity",
    )
    rows = []
    for i, item in enumerate(items):
        r, c = outcomes[2 * i], outcomes[2 * i + 1]
        row = _base(item, r, c)
        ok = r.ok and c.ok
        a, b = (r.output or "", c.output or "") if ok else ("", "")
        where = metrics.first_divergence(a, b) if ok else None
        row.update(
            exact_match=bool(ok and a == b) if ok else None,
            similarity=metrics.text_similarity(a, b) if ok else math.nan,
            diverges_at=where.index if where else None,
            reference_token=where.reference if where else None,
            candidate_token=where.candidate if where else None,
            reference_output=r.output,
            candidate_output=c.output,
            passed=bool(ok and tol.text_ok(a == b, where.index if where else None)),
        )
        rows.append(row)
    return rows, [None] * len(items)


def _images(
    ref: Target,
    cand: Target,
    items: list,
    tol: Tolerance,
    *,
    seed,
    input_key,
    concurrency,
    progress,
    params,
    cache=False,
    **_,
):
    jobs = [
        (t, calls.image_input(t.model, item, params, seed=seed, input_key=input_key))
        for item in items
        for t in (ref, cand)
    ]
    outcomes = _pool_map(
        lambda t, payload: calls.predict(t.client, t.slug, payload, model=t.model, cache=cache),
        jobs,
        concurrency,
        progress,
        "parity",
    )
    rows, pairs = [], []
    for i, item in enumerate(items):
        r, c = outcomes[2 * i], outcomes[2 * i + 1]
        row = _base(item, r, c)
        row.update(psnr=math.nan, ssim=math.nan, mean_abs_diff=math.nan, passed=False, note=None)
        pair = None
        if r.ok and c.ok and r.images and c.images:
            a, b = r.images[0], c.images[0]
            pair = (a, b)
            try:
                row.update(
                    psnr=metrics.psnr(a, b),
                    ssim=metrics.ssim(a, b),
                    mean_abs_diff=metrics.mean_abs_diff(a, b),
                )
                row["passed"] = tol.image_ok(row["psnr"], row["ssim"], row["mean_abs_diff"])
            except ValueError as err:  # different sizes
                row["note"] = str(err)
        elif r.ok and c.ok:
            row["note"] = "no output image"
        row["seed"] = seed
        rows.append(row)
        pairs.append(pair)
    return rows, pairs


class ParityReport:
    """The verdict of :func:`parity`, the per-item frame (worst first) and the tolerance it judged by.

    `verdict` is "pass" or "fail"; `passed` the same as a bool; `failures()` the items that did not
    pass; `summary` the headline figures. A one-line repr in a terminal, an HTML card in a notebook.
    """

    def __init__(
        self,
        modality: str,
        rows: list[dict],
        tolerance: Tolerance,
        provenance: dict,
        *,
        images: dict | None = None,
    ):
        self.modality = modality
        self.tolerance = tolerance
        self.provenance = provenance
        self._rows = rows
        self._images = images or {}
        self.model = provenance["model"]
        self.candidate_model = provenance["candidate_model"]
        self.summary = self._summarize()
        self.passed = self._judge()
        self.verdict = "pass" if self.passed else "fail"

    # ------------------------------------------------------------------ judging

    def _summarize(self) -> dict:
        rows = self._rows
        n = len(rows)  # calls per side: items × repeats
        summary: dict[str, Any] = {
            "items": len({_hashable(r["item"]) for r in rows}),
            "passed_items": _items_passing(rows),
            "call_errors": sum(r["error"] is not None for r in rows),
        }
        for side in ("reference", "candidate"):
            timed = np.array([r[f"{side}_latency"] for r in rows
                              if r[f"{side}_latency"] is not None and not r[f"{side}_cached"]], dtype=float)
            summary[f"{side}_median_latency"] = float(np.median(timed)) if timed.size else math.nan
            summary[f"{side}_latency_iqr"] = (float(np.subtract(*np.percentile(timed, [75, 25])))
                                              if timed.size else math.nan)
            summary[f"{side}_cached_calls"] = sum(bool(r[f"{side}_cached"]) for r in rows)
        cand = summary["candidate_median_latency"]
        # ratio of the medians of warm, uncached calls: model loading and cache hits are not in it
        summary["speedup"] = summary["reference_median_latency"] / cand if cand > 0 else math.nan
        per_item: dict = {}
        for r in rows:
            per_item.setdefault(r["item"], []).append(float(bool(r["passed"])))
        rates = [sum(v) / len(v) for v in per_item.values()]
        summary["pass_rate"] = float(np.mean(rates)) if rates else math.nan
        summary["pass_rate_ci"] = bootstrap_ci(rates)
        if self.modality == "embeddings":
            cos = np.array([r["cosine"] for r in rows], dtype=float)
            summary["min_cosine"] = float(np.nanmin(cos)) if np.isfinite(cos).any() else math.nan
            summary["mean_cosine"] = float(np.nanmean(cos)) if np.isfinite(cos).any() else math.nan
        elif self.modality == "chat":
            summary["exact_match_rate"] = sum(bool(r["exact_match"]) for r in rows) / n
            sims = [r["similarity"] for r in rows if not math.isnan(r["similarity"])]
            summary["mean_similarity"] = float(np.mean(sims)) if sims else math.nan
        else:
            for key, fn in (("psnr", np.nanmin), ("ssim", np.nanmin), ("mean_abs_diff", np.nanmax)):
                values = np.array([r[key] for r in rows], dtype=float)
                name = ("max_" if fn is np.nanmax else "min_") + key
                summary[name] = float(fn(values)) if not np.isnan(values).all() else math.nan
        return summary

    def _judge(self) -> bool:
        if self.summary["call_errors"]:
            return False
        if self.modality == "chat":
            return self.summary["passed_items"] / max(self.summary["items"], 1) >= self.tolerance.exact_match
        return all(r["passed"] for r in self._rows)

    # ------------------------------------------------------------------ frames

    def frame(self):
        """One row per input × repeat: its metrics and whether it passed, worst first; provenance in attrs."""
        import pandas as pd

        df = pd.DataFrame(self._rows)
        first = ["item", "input", "passed"]
        df = df[first + [c for c in df.columns if c not in first]]
        df["_failed_call"] = df["error"].notna()
        keys = ["_failed_call", *_WORST_FIRST.get(self.modality, [])]
        ascending = [False] + [True] * (len(keys) - 1)
        df = df.sort_values(keys, ascending=ascending, kind="stable", na_position="first")
        df = df.drop(columns="_failed_call").reset_index(drop=True)
        df.attrs.update(self.provenance)
        df.attrs["tolerance"] = self.tolerance.describe(self.modality)
        df.attrs["verdict"] = self.verdict
        return df

    def failures(self):
        """The items that did not pass, worst first."""
        df = self.frame()
        return df[~df["passed"].astype(bool)].reset_index(drop=True)

    @property
    def failing_items(self) -> list:
        """The labels (positions, or the caller's index) of the items that did not pass, worst first."""
        return list(dict.fromkeys(self.failures()["item"].tolist()))

    def images(self, item: Any) -> tuple | None:
        """(reference, candidate) PIL images of an image item, None for other modalities."""
        return self._images.get(item)

    # ------------------------------------------------------------------ display

    def _headline(self) -> str:
        s = self.summary
        if self.modality == "embeddings":
            return f"min cosine {s['min_cosine']:.4f}, mean {s['mean_cosine']:.4f}"
        if self.modality == "chat":
            return f"exact match {s['exact_match_rate']:.0%}, mean similarity {s['mean_similarity']:.3f}"
        return (
            f"min PSNR {_db(s['min_psnr'])}, min SSIM {s['min_ssim']:.4f}, "
            f"max mean |Δ| {s['max_mean_abs_diff']:.3g}"
        )

    def _worst(self) -> str:
        bad = self.failures()
        if bad.empty:
            return ""
        r = bad.iloc[0]
        what = f"{r['input'][:40]!r}"
        if r.get("error"):
            detail = r["error"][:80]
        elif (
            self.modality == "chat" and r.get("diverges_at") is not None and not _isnan(r.get("diverges_at"))
        ):
            detail = f"token {int(r['diverges_at'])}: {r['reference_token']!r} vs {r['candidate_token']!r}"
        elif self.modality == "embeddings":
            detail = f"cosine {r['cosine']:.4f}"
        elif self.modality in ("image", "prediction") and r.get("note"):
            detail = r["note"]
        elif self.modality in ("image", "prediction"):
            detail = f"PSNR {_db(r['psnr'])}, SSIM {r['ssim']:.4f}"
        else:
            detail = ""
        item = r["item"].item() if hasattr(r["item"], "item") else r["item"]
        return f"; worst: item {item!r} {what} {detail}".rstrip()

    def __repr__(self) -> str:
        s = self.summary
        pair = self.model if self.model == self.candidate_model else f"{self.model} vs {self.candidate_model}"
        return (
            f"ParityReport({self.verdict.upper()} {self.modality} {pair}: "
            f"{s['passed_items']}/{s['items']} items "
            f"pass [{self.tolerance.describe(self.modality)}], {self._headline()}{self._worst()})"
        )

    def _repr_html_(self) -> str:
        s = self.summary
        ref, cand = self.provenance["reference"], self.provenance["candidate"]
        facts = [
            (
                "model",
                self.model
                if self.model == self.candidate_model
                else f"{self.model} → {self.candidate_model}",
            ),
            ("reference", f"{ref['backend']} {ref['base_url']} {_describe_meta(ref['metadata'])}".strip()),
            ("candidate", f"{cand['backend']} {cand['base_url']} {_describe_meta(cand['metadata'])}".strip()),
            ("modality", self.modality),
            ("tolerance", self.tolerance.describe(self.modality)),
            ("items passing", f"{s['passed_items']} / {s['items']}"),
            ("result", self._headline()),
            ("repeats", self.provenance.get("repeats", 1)),
            ("result cache", self.provenance.get("cache", "bypassed")),
            ("latency, median (IQR)", f"reference {_latency(s, 'reference')}, candidate {_latency(s, 'candidate')}"),
            (
                "speed-up (median reference latency / median candidate latency; warm, uncached)",
                f"{s['speedup']:.2f}×" if s["speedup"] == s["speedup"] else "–",
            ),
            ("warm-up call (model loading; left out)", ", ".join(
                f"{side} {_ms(v)}" for side, v in self.provenance.get("warmup_seconds", {}).items()) or "none"),
        ]
        if self.provenance.get("repeats", 1) > 1:
            low, high = s["pass_rate_ci"]
            facts.append(("pass rate (95% interval over inputs)", f"{s['pass_rate']:.0%} [{low:.0%}, {high:.0%}]"))
        df = self.frame()
        shown = [c for c in df.columns if c not in ("reference_output", "candidate_output")]
        sections = [
            _html.facts(facts),
            _html.heading("items, worst first"),
            display.frame_table(df[shown], max_rows=12),
        ]
        if self.modality in ("image", "prediction"):
            sections.append(self._pairs_html(df))
        title = f"Parity: {self.modality}"
        return display.card(title, *sections, badge=self.verdict)

    def _pairs_html(self, df, n: int = 4) -> str:
        rows = []
        for _, r in df.head(n).iterrows():
            pair = self._images.get(r["item"])
            if not pair:
                continue
            rows.append(
                [
                    escape(str(r["input"])),
                    _html.thumbnail(pair[0], 96),
                    _html.thumbnail(pair[1], 96),
                    escape(f"PSNR {_db(r['psnr'])} · SSIM {r['ssim']:.3f}"),
                ]
            )
        if not rows:
            return ""
        return _html.heading("worst items") + _html.table(
            ["input", "reference", "candidate", "metrics"], rows, escape_cells=False
        )


def _db(value: float) -> str:
    if value is None or _isnan(value):
        return "–"
    return "∞ dB" if math.isinf(value) else f"{value:.1f} dB"


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _describe_meta(meta: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in meta.items() if k in ("device", "dtype"))


def _hashable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _items_passing(rows: list[dict]) -> int:
    """Items all of whose repeats passed."""
    verdicts: dict = {}
    for r in rows:
        key = _hashable(r["item"])
        verdicts[key] = verdicts.get(key, True) and bool(r["passed"])
    return sum(verdicts.values())


def _ms(value: float | None) -> str:
    if value is None or _isnan(value):
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _latency(summary: dict, side: str) -> str:
    return f"{_ms(summary[f'{side}_median_latency'])} ({_ms(summary[f'{side}_latency_iqr'])})"

