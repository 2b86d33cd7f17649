"""A bounded load test (smaller than benchmarks/bench_server_load.py): no errors but the server's chosen 429s."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _load import run_load


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory, local_server):
    """Its own server, sharing the session's loaded models, with a rate limit the load will hit."""
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    config = {"server": {"rate_limit_requests": 40, "rate_limit_window": 1}}
    srv = start_server(data_dir=tmp_path_factory.mktemp("load"), device="cpu", config=config, runners=runners)
    yield srv
    srv.stop()


@pytest.mark.timeout(120)
def test_pollers_and_creators_see_no_errors_but_chosen_429s(limited_server):
    result = run_load(limited_server.url, pollers=50, creators=10, seconds=5, timeout=20)
    summary = result.summary()
    print("\n", summary)
    assert not result.errors, result.errors[:5]
    assert result.gets > 20 and result.creates > 0
    assert result.rate_limited > 0, "the rate limit was never reached: the test did not exercise 429s"
    assert result.seconds < 5 + 25  # stopped by itself


@pytest.mark.timeout(120)
def test_load_without_rate_limit_has_no_429(local_server):
    result = run_load(local_server.url, pollers=20, creators=4, seconds=3, timeout=20)
    assert not result.errors, result.errors[:5]
    assert result.rate_limited == 0 and result.gets > 0


@pytest.mark.timeout(120)
def test_a_full_prediction_queue_is_a_chosen_429(tmp_path, local_server):
    """Creators outpace the worker: past max_queued_predictions they get 429 + Retry-After, never an error."""
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    config = {"server": {"max_queued_predictions": 4}}
    with start_server(data_dir=tmp_path, device="cpu", config=config, runners=runners) as srv:
        result = run_load(srv.url, pollers=10, creators=8, seconds=4, timeout=20, seed_predictions=2,
                          input={"num_inference_steps": 30, "width": 32, "height": 32})
        assert srv.state.predictions.worker.waiting() <= 4
    assert not result.errors, result.errors[:5]
    assert result.rate_limited > 0 and result.creates > 0 and result.gets > 0
