"""Ledger and budget from CallRecords (no server): frames, per-model summary, estimates, refusals."""

from __future__ import annotations

import pytest

from skytells_lab.api import BudgetExceeded, CallRecord
from skytells_lab.notebook.ledger import Budget, Ledger, estimate_credits


def _record(**kw):
    base = {"kind": "predictions.get", "model": "img", "latency_s": 0.1, "status": "succeeded"}
    return CallRecord(**{**base, **kw})


def test_frame_and_summary_count_a_prediction_once():
    ledger = Ledger()
    ledger.record({**_record(kind="predictions.create", status="pending", credits_used=0.0).__dict__,
                   "prediction_id": "p1"})
    done = {**_record(predict_time=1.5, credits_used=0.02).__dict__, "prediction_id": "p1"}
    ledger.record(done)
    ledger.record(dict(done))  # the same prediction fetched again: not charged twice
    ledger.record(_record(kind="chat.completions", model="chat", prompt_tokens=10, completion_tokens=5,
                          status=200))
    ledger.record(_record(kind="chat.completions", model="chat", ok=False, status=429))
    df = ledger.frame()
    assert len(df) == 5 and str(df["time"].dt.tz) == "UTC"
    assert df["credits_used"].sum() == pytest.approx(0.02)
    assert str(df["prompt_tokens"].dtype) == "Int64" and df["ok"].dtype == bool
    summary = ledger.summary()
    assert summary.loc["img", "calls"] == 3 and summary.loc["chat", "errors"] == 1
    assert summary.loc["chat", "prompt_tokens"] == 10 and summary.loc["total", "credits_used"] == pytest.approx(0.02)
    assert "Ledger" in ledger._repr_html_() and "0.02" in repr(ledger)


def test_ledger_reads_a_client_call_log():
    log = []
    ledger = Ledger(log=log)
    log.append((1.0, _record(credits_used=0.5)))
    assert ledger.credits() == 0.5 and len(ledger) == 1
    log.append((2.0, _record(credits_used=0.25)))
    assert ledger.credits(since=1.5) == 0.25
    ledger.clear()
    assert len(ledger) == 0 and log == []


@pytest.mark.parametrize("pricing, payload, expected", [
    ({"amount": 0.01, "unit": "image"}, {"input": {"prompt": "7", "num_outputs": 3}}, 0.03),
    ({"amount": 0.75, "unit": "prediction"}, {}, 0.75),
    ({"amount": 2.0, "unit": "million_token"}, {"messages": "x" * 400, "max_tokens": 900}, 2.0 * 1000 / 1e6),
    ({"amount": 0.001, "unit": "second"}, {}, 0.001),
    ({"amount": 0, "unit": "image"}, {}, 0.0),
    (None, {}, 0.0),
])
def test_estimates(pricing, payload, expected):
    assert estimate_credits(pricing, payload=payload) == pytest.approx(expected)


def test_budget_refuses_the_call_that_would_cross_it():
    ledger = Ledger()
    budget = Budget(0.025, ledger=ledger, pricing_of=lambda slug: {"amount": 0.01, "unit": "image"})
    assert budget.check("predictions.create", "img", {"input": {}}) == pytest.approx(0.01)
    assert budget.check("predictions.create", "img", {"input": {}}) == pytest.approx(0.01)
    assert budget.check("predictions.get", "img", None) == 0.0  # reading costs nothing
    with pytest.raises(BudgetExceeded, match="not sent") as info:
        budget.check("predictions.create", "img", {"input": {}})
    assert info.value.details["estimate"] == pytest.approx(0.01) and budget.refused == 1
    assert budget.remaining == pytest.approx(0.005)
    assert "Budget" in budget._repr_html_() and "refused" in repr(budget)
    with pytest.raises(ValueError):
        Budget(-1, ledger=ledger)
