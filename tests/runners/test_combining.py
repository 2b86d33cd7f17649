"""Combiner: concurrent calls share model passes, each gets its own results, an error stays with its call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skytells_lab.local.runners.combining import Combiner


def test_calls_made_during_a_pass_share_the_next_one():
    passes = []

    def square(items):
        passes.append(list(items))
        time.sleep(0.05)  # long enough for the other threads to queue up behind this pass
        return [x * x for x in items]

    combiner = Combiner(square)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: combiner([i, i + 100]), range(8)))
    assert results == [[i * i, (i + 100) ** 2] for i in range(8)]
    assert 2 <= len(passes) < 8 and sorted(x for p in passes for x in p) == sorted(
        [i for i in range(8)] + [i + 100 for i in range(8)])


def test_a_pass_takes_waiting_calls_only_up_to_max_items():
    passes = []

    def record(items):
        passes.append(len(items))
        time.sleep(0.05)
        return list(items)

    combiner = Combiner(record, max_items=4)
    with ThreadPoolExecutor(6) as pool:
        sizes = [1, 3, 3, 1, 2, 5]
        results = list(pool.map(lambda n: combiner(list(range(n))), sizes))
    assert results == [list(range(n)) for n in sizes]
    assert sum(passes) == sum(sizes) and max(passes) == 5  # the call of 5 ran alone, nothing else over 4
    assert sorted(passes)[:-1] == sorted(p for p in passes if p <= 4)


def test_an_error_reaches_only_the_call_that_caused_it():
    gate = threading.Event()

    def checked(items):
        gate.wait(1)
        if "bad" in items:
            raise ValueError("bad item")
        return [s.upper() for s in items]

    combiner = Combiner(checked)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(combiner, [s]) for s in ("a", "bad", "c", "d")]
        gate.set()
        assert futures[0].result() == ["A"] and futures[2].result() == ["C"] and futures[3].result() == ["D"]
        with pytest.raises(ValueError, match="bad item"):
            futures[1].result()


def test_concurrent_requests_embed_as_they_would_alone(embedder):
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'markets'}" for i in range(12)]
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    with ThreadPoolExecutor(12) as pool:
        together = np.stack([v[0] for v in pool.map(lambda t: embedder.embed([t]), texts)])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
