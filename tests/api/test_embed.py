"""client.embed: batching, order, concurrency bound, pacing, and use from inside a running event loop."""

from __future__ import annotations

import asyncio
import sys
import threading

import numpy as np
import pytest
from conftest import FAST, KEY
from fake_skytells_service import vector_for
from support.faults import Fault

from skytells_lab.api import Skytells, _embed

TEXTS = [f"text number {i} " + "x" * (i % 7) for i in range(23)]
EXPECTED = np.stack([vector_for(t) for t in TEXTS])


def test_embed_batches_in_order(client, faults):
    out = client.embed(TEXTS, model="embed-small", batch_size=5, concurrency=3, progress=False)
    assert out.dtype == np.float32 and out.shape == (23, 8)
    np.testing.assert_array_equal(out, EXPECTED)
    assert faults.count("POST", "/v1/embeddings") == 5
    sizes = sorted(len(r.json()["input"]) for r in faults.requests)
    assert sizes == [3, 5, 5, 5, 5]
    assert all(r.json()["encoding_format"] == "base64" for r in faults.requests)


def test_batches_never_exceed_the_service_limit():
    assert [e - s for s, e in _embed.spans(5000, 10_000)] == [2048, 2048, 904]
    assert _embed.spans(0, 256) == []


def test_embed_single_string_and_empty(client):
    assert client.embed("hello", model="embed-small").shape == (1, 8)
    assert client.embed([], model="embed-small").shape[0] == 0
    with pytest.raises(TypeError):
        client.embed(["ok", 3], model="embed-small")


def test_embed_survives_faults_where_nothing_ran(client, faults):
    faults.script("POST", "/v1/embeddings", Fault.status(503, headers={"Retry-After": "0"}),
                  Fault.rate_limited("0"))
    out = client.embed(TEXTS, model="embed-small", batch_size=4, concurrency=2, progress=False)
    np.testing.assert_array_equal(out, EXPECTED)
    assert faults.count("POST", "/v1/embeddings") == 6 + 2


def test_embed_survives_ambiguous_faults_when_resending_is_allowed(client, faults):
    faults.script("POST", "/v1/embeddings", Fault.status(503), Fault.drop(), Fault.invalid_json(),
                  Fault.rate_limited("0"))
    out = client.with_options(resend_inference=True).embed(TEXTS, model="embed-small", batch_size=4,
                                                           concurrency=2, progress=False)
    np.testing.assert_array_equal(out, EXPECTED)
    assert faults.count("POST", "/v1/embeddings") == 6 + 4


def test_concurrency_is_bounded(client, faults):
    active, peak, lock = [0], [0], threading.Lock()
    original = faults._normal

    def counting(req):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            threading.Event().wait(0.05)
            return original(req)
        finally:
            with lock:
                active[0] -= 1

    faults._normal = counting
    client.embed(TEXTS, model="embed-small", batch_size=2, concurrency=3, progress=False)
    assert 2 <= peak[0] <= 3


def test_progress_bar_only_past_one_batch(client, monkeypatch):
    import tqdm.auto

    made = []

    class Bar:
        def __init__(self, **kw):
            made.append(kw)

        def update(self, n):
            made[-1].setdefault("done", 0)
            made[-1]["done"] += n

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    client.embed(TEXTS[:3], model="embed-small", batch_size=5)
    assert made == []
    client.embed(TEXTS, model="embed-small", batch_size=5)
    assert made[0]["total"] == 23 and made[0]["done"] == 23


def test_sync_embed_from_inside_a_running_loop(faults, service):
    """A notebook cell: an event loop already runs in this thread; the sync call must still work."""
    seen_threads = []

    async def cell():
        asyncio.get_running_loop()  # we are inside a loop, like ipykernel
        with Skytells(KEY, faults.url, **FAST) as c:
            c.add_observer(lambda r: seen_threads.append(threading.current_thread().name))
            return c.embed(TEXTS, model="embed-small", batch_size=6, progress=False)

    out = asyncio.run(cell())
    np.testing.assert_array_equal(out, EXPECTED)
    assert set(seen_threads) == {"skytells-lab-loop"}  # ran on the private loop's worker thread
    assert asyncio.get_event_loop_policy() is not None  # nothing was patched process-wide


def test_sync_embed_from_a_script(faults, service):
    with Skytells(KEY, faults.url, **FAST) as c:
        np.testing.assert_array_equal(c.embed(TEXTS, model="embed-small", batch_size=6, progress=False), EXPECTED)


def test_async_embed(make_async):
    async def main():
        async with make_async() as c:
            return await c.embed(TEXTS, model="embed-small", batch_size=7, concurrency=2, progress=False)

    np.testing.assert_array_equal(asyncio.run(main()), EXPECTED)


def test_errors_propagate_from_the_worker_thread(faults, service):
    faults.script("POST", "/v1/embeddings", *[Fault.status(402)] * 10)

    async def cell():
        with Skytells(KEY, faults.url, **FAST) as c:
            c.embed(TEXTS, model="embed-small", batch_size=6, progress=False)

    from skytells_lab.api import PaymentRequiredError

    with pytest.raises(PaymentRequiredError):
        asyncio.run(cell())


def test_pace_pause():
    assert _embed.pace_pause({}, 4) == 0
    assert _embed.pace_pause({"remaining_requests": 100, "limit_requests": 120}, 4) == 0
    assert _embed.pace_pause({"remaining_requests": 3, "window": "1s"}, 4) == pytest.approx(0.25)
    assert _embed.pace_pause({"remaining_requests": 0, "window": "1m"}, 4) == _embed.PACE_MAX_PAUSE
    assert _embed.pace_pause({"remaining_requests": 5, "limit_requests": 1000}, 4) > 0  # under 5 %


def test_embed_slows_down_when_budget_is_nearly_spent(client, service, monkeypatch):
    pauses = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *a):
        # asyncio.sleep is patched process-wide: count only the pauses embed itself takes
        if seconds and sys._getframe(1).f_globals.get("__name__") == _embed.__name__:
            pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(_embed.asyncio, "sleep", sleep)
    client.embed(TEXTS, model="embed-small", batch_size=5, progress=False)
    assert pauses == []
    service.rate_limit_headers = {"x-skytells-ratelimit-remaining-requests": "1",
                                  "x-skytells-ratelimit-window": "10"}
    client.embed(TEXTS, model="embed-small", batch_size=5, concurrency=2, progress=False)
    # the first two batches start before any header is seen; every later one waits (10 s / 2, capped)
    assert pauses == [_embed.PACE_MAX_PAUSE] * 3
