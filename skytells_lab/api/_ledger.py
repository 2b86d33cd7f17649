"""The cost ledger (an after-call observer) and the spending budget (a before-call hook).

A :class:`Ledger` is called with every :class:`CallRecord` (``client.add_observer``) and keeps one row per
call, the last ``MAX_CALLS`` of them. Credits of a prediction are reported by every fetch of it; the ledger
counts them once per prediction id. A :class:`Budget` is called before a request is sent
(``client.add_hook``): it estimates the call's cost from the model's pricing and raises
:class:`~skytells_lab.api.errors.BudgetExceeded` when the credits already spent plus the estimate would cross
the limit. Every client has one ledger from its creation on (``client.ledger``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

from typing_extensions import Self

from skytells_lab import _html
from skytells_lab._pricing import PER_MILLION_TOKENS, PER_TOKEN, credits_for, pricing_unit

__all__ = ["MAX_CALLS", "Budget", "Ledger", "LedgerEntry", "estimate_credits"]

MAX_CALLS = 100_000  # rows a ledger keeps (about 25 MB); older calls drop off, their credits stay counted
_MAX_PREDICTIONS = 100_000  # prediction ids whose credits so far are remembered, to count them once

_FRAME_COLUMNS = [
    "time", "kind", "model", "latency_s", "status", "ok", "predict_time", "prompt_tokens",
    "completion_tokens", "credits_used", "prediction_id", "request_id",
]
_COUNT_KEYS = ("num_outputs", "number_of_images", "num_images", "n", "batch_size")


@dataclass(frozen=True)
class LedgerEntry:
    """One API call as the ledger keeps it: the client's CallRecord plus when it ended."""

    time: float
    kind: str
    model: str | None
    latency_s: float
    status: Any
    ok: bool
    predict_time: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    credits_used: float | None
    prediction_id: str | None
    request_id: str | None


class Ledger:
    """Calls as rows (the last ``max_calls``); ``frame()`` and ``summary()`` are pandas views of them.

    ``Ledger(client)`` subscribes to the client from now on (``client.ledger`` has every call since the client
    was made); ``Ledger(log=list)`` reads a list of ``(epoch_time, CallRecord)`` that someone else fills.
    """

    def __init__(self, client: Any = None, *, log: list | None = None, max_calls: int = MAX_CALLS) -> None:
        self._log: Any = log if log is not None else deque(maxlen=max_calls)
        self._external = log is not None
        self._done = 0  # how much of an external log is already turned into entries
        self._entries: deque[LedgerEntry] = deque(maxlen=max_calls)
        self._charged: OrderedDict[str, float] = OrderedDict()  # prediction id -> credits counted so far
        self._total = 0.0  # every credit recorded, including rows that dropped off
        self._lock = threading.Lock()
        if client is not None:
            client.add_observer(self.record)

    def record(self, record: Any) -> None:
        """Observer: log one CallRecord (or a dict with its fields) as of now."""
        if self._external:
            self._log.append((time.time(), record))
            return
        with self._lock:
            self._add(time.time(), record)

    __call__ = record

    def _add(self, when: float, record: Any) -> None:
        entry = self._entry(when, record)
        self._entries.append(entry)
        self._total += entry.credits_used or 0.0

    def _entry(self, when: float, record: Any) -> LedgerEntry:
        get = record.get if isinstance(record, dict) else (lambda k, d=None: getattr(record, k, d))
        pid = get("prediction_id") or get("ref")
        credits = get("credits_used")
        if credits is not None and pid is not None:
            # a prediction reports its credits on every fetch (0 while running): count what is new only
            counted = self._charged.pop(pid, 0.0)
            self._charged[pid] = max(counted, float(credits))
            if len(self._charged) > _MAX_PREDICTIONS:
                self._charged.popitem(last=False)
            credits = max(float(credits) - counted, 0.0)
        return LedgerEntry(
            time=when, kind=get("kind") or "", model=get("model"),
            latency_s=float(get("latency_s") or 0.0), status=get("status"), ok=bool(get("ok", True)),
            predict_time=get("predict_time"), prompt_tokens=get("prompt_tokens"),
            completion_tokens=get("completion_tokens"),
            credits_used=None if credits is None else float(credits),
            prediction_id=pid, request_id=get("request_id"),
        )

    @property
    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            if self._external:
                end = len(self._log)
                for when, record in self._log[self._done:end]:
                    self._add(when, record)
                self._done = end
            return list(self._entries)

    @property
    def total_credits(self) -> float:
        """Every credit recorded since the ledger began, rows that dropped off included (``clear`` keeps it)."""
        self.entries  # noqa: B018 - reads an external log up to now
        return self._total

    def credits(self, since: float | None = None) -> float:
        """Credits recorded (optionally only by calls that ended after the epoch time ``since``)."""
        return float(sum(e.credits_used or 0.0 for e in self.entries if since is None or e.time >= since))

    def clear(self) -> None:
        """Forget the calls so far (the client goes on logging new ones)."""
        with self._lock:
            self._entries.clear()
            self._log.clear()
            self._done = 0

    def __len__(self) -> int:
        return len(self.entries)

    def frame(self):
        """One row per call: time (UTC), kind, model, latency_s, status, ok, predict_time, tokens, credits."""
        import pandas as pd

        rows = [asdict(e) for e in self.entries]
        df = pd.DataFrame(rows, columns=_FRAME_COLUMNS)
        df["time"] = pd.to_datetime(df["time"], unit="s", utc=True)
        for col in ("latency_s", "predict_time", "credits_used"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        for col in ("prompt_tokens", "completion_tokens"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        df["ok"] = df["ok"].astype(bool)
        df["status"] = df["status"].map(lambda s: None if s is None else str(s)).astype("string")
        for col in ("kind", "model"):
            df[col] = df[col].astype("category")
        df.attrs["skytells"] = {"what": "ledger"}
        return df

    def summary(self):
        """Per model: calls, errors, mean latency, total predict_time, tokens and credits."""
        import pandas as pd

        df = self.frame()
        if df.empty:
            return pd.DataFrame(columns=["calls", "errors", "latency_s_mean", "predict_time_s", "prompt_tokens",
                                         "completion_tokens", "credits_used"]).rename_axis("model")
        df["model"] = df["model"].astype("string").fillna("(none)")
        grouped = df.groupby("model", sort=True)
        out = pd.DataFrame({
            "calls": grouped.size(),
            "errors": grouped["ok"].apply(lambda s: int((~s).sum())),
            "latency_s_mean": grouped["latency_s"].mean(),
            "predict_time_s": grouped["predict_time"].sum(min_count=1).astype("float64"),
            "prompt_tokens": grouped["prompt_tokens"].sum(),
            "completion_tokens": grouped["completion_tokens"].sum(),
            "credits_used": grouped["credits_used"].sum().astype("float64"),
        })
        out.loc["total"] = [
            out["calls"].sum(), out["errors"].sum(), df["latency_s"].mean(), out["predict_time_s"].sum(),
            out["prompt_tokens"].sum(), out["completion_tokens"].sum(), out["credits_used"].sum(),
        ]
        return out

    def __repr__(self) -> str:
        return f"Ledger({len(self)} calls, {self.credits():.4g} credits)"

    def _repr_html_(self) -> str:
        summary = self.summary()
        table = summary.to_html(float_format=lambda v: f"{v:.4g}", na_rep="", border=0) if len(summary) else ""
        return _html.card("Ledger", f"{len(self)} calls", table,
                          badges=_html.badge(f"{self.credits():.4g} credits", _html.ACCENT))


# --------------------------------------------------------------------------- the budget


def estimate_credits(pricing: Any, *, kind: str = "predictions.create", payload: dict | None = None,
                     history: list[LedgerEntry] | None = None) -> float:
    """Expected credits of one call under a model's ``pricing {amount, unit}``.

    Per-asset units use the requested output count; per-second units the model's mean predict_time in
    this session (else one second); token units the prompt's length (4 characters per token) plus
    ``max_tokens`` (else the mean completion seen so far, else 256).
    """
    unit = pricing_unit(pricing)
    payload = payload or {}
    history = history or []
    inputs = payload.get("input") if isinstance(payload.get("input"), dict) else payload
    count = next((inputs[k] for k in _COUNT_KEYS if isinstance(inputs.get(k), int)), 1)
    times = [e.predict_time for e in history if e.predict_time]
    tokens = 0.0
    if unit in PER_TOKEN or unit in PER_MILLION_TOKENS:
        limit = payload.get("max_tokens") or payload.get("max_output_tokens")
        if limit is None:
            seen = [e.completion_tokens for e in history if e.completion_tokens]
            limit = sum(seen) / len(seen) if seen else 256
        tokens = _prompt_chars(payload) / 4 + float(limit)
    credits = credits_for(pricing, assets=max(int(count), 1), tokens=tokens,
                          predict_time=sum(times) / len(times) if times else 1.0)
    return credits or 0.0


def _prompt_chars(payload: dict) -> int:
    text = payload.get("messages", payload.get("input", ""))
    return len(str(text))


_BILLED_KINDS = ("predictions.create", "chat.completions", "responses", "embeddings")


class Budget:
    """A spending limit in credits, checked before each billable request is sent: a before-call hook
    (``client.add_hook(budget)`` calls ``budget(call)``; ``client.budget(credits=...)`` does it for you).

    What counts as spent is the larger of the credits the ledger recorded since the budget began and the
    estimates of the calls it let through (so concurrent calls in flight count before they are billed).
    """

    def __init__(self, credits: float, *, ledger: Ledger, pricing_of: Any = None) -> None:
        if credits is None or credits < 0:
            raise ValueError("a budget needs credits >= 0")
        self.limit = float(credits)
        self._ledger = ledger
        self._pricing_of = pricing_of  # slug -> pricing (or None); fetched once per model
        self._pricing: dict[str, Any] = {}
        self._start = ledger.total_credits
        self._committed = 0.0
        self._lock = threading.Lock()
        self._release = None
        self.refused = 0

    @property
    def spent(self) -> float:
        return max(self._ledger.total_credits - self._start, self._committed)

    @property
    def remaining(self) -> float:
        return max(self.limit - self.spent, 0.0)

    def pricing(self, model: str | None) -> Any:
        if model is None or self._pricing_of is None:
            return None
        if model not in self._pricing:
            try:
                self._pricing[model] = self._pricing_of(model)
            except Exception:  # noqa: BLE001 - an unknown model fails at the request itself, with the service's message
                self._pricing[model] = None
        return self._pricing[model]

    def estimate(self, kind: str, model: str | None, payload: dict | None = None) -> float:
        if not kind.startswith(_BILLED_KINDS):
            return 0.0
        history = [e for e in self._ledger.entries if e.model == model]
        return estimate_credits(self.pricing(model), kind=kind, payload=payload, history=history)

    def check(self, kind: str, model: str | None, payload: dict | None = None) -> float:
        """Raise BudgetExceeded if this call would cross the limit; else reserve its estimate and return it."""
        from skytells_lab.api.errors import BudgetExceeded

        cost = self.estimate(kind, model, payload)
        with self._lock:
            spent = self.spent
            if spent + cost > self.limit + 1e-12:
                self.refused += 1
                raise BudgetExceeded(
                    f"budget of {self.limit:g} credits: {spent:.6g} spent, this {kind} call on {model!r} is "
                    f"estimated at {cost:.6g}; it was not sent. Raise it with client.budget(credits=...) "
                    f"or remove it with client.budget(None).",
                    details={"limit": self.limit, "spent": spent, "estimate": cost, "model": model, "kind": kind},
                )
            self._committed += cost
        return cost

    def __call__(self, call: Any) -> None:
        """The before-call hook: ``check`` the call about to be sent (a :class:`~skytells_lab.api.Call`)."""
        self.check(call.kind, call.model, call.json if isinstance(call.json, dict) else None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """``with client.budget(credits=...):`` ends the budget with the block."""
        if self._release is not None:
            self._release()

    def __repr__(self) -> str:
        return f"Budget({self.spent:.4g} of {self.limit:g} credits spent, {self.refused} refused)"

    def _repr_html_(self) -> str:
        share = 0.0 if self.limit == 0 else min(self.spent / self.limit, 1.0)
        color = _html.DANGER if share >= 0.9 else _html.WARNING if share >= 0.6 else _html.SUCCESS
        bar = (f'<div style="width:240px;height:8px;background:{_html.RULE};border-radius:4px;margin-top:6px">'
               f'<div style="width:{share * 100:.1f}%;height:8px;background:{color};border-radius:4px"></div></div>')
        rows = [("spent", _html.e(f"{self.spent:.6g}")), ("remaining", _html.e(f"{self.remaining:.6g}")),
                ("refused calls", _html.e(self.refused))]
        return _html.card("Budget", f"{self.limit:g} credits", bar + _html.rows(rows))
