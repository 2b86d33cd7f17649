"""A seeded result cached from one server never answers for another server on the same port.

The scenario of issue 20: a server whose `truefusion` is the digits model answers a seeded request; it
stops; a server on the same port, whose `truefusion` cannot load, starts. Before the result cache keyed
on what answers, `client.run` returned the first server's prediction and `parity` reported PASS.
"""

from __future__ import annotations

import pytest

from skytells_lab import Skytells
from skytells_lab.api.errors import PredictionFailed
from skytells_lab.comparison import parity

REQUEST = {"prompt": "3", "seed": 7, "num_inference_steps": 2, "width": 64, "height": 64}


@pytest.fixture
def two_servers_one_port(tmp_path, local_server):
    """(start_first, start_second): servers on one port; `truefusion` is digits, then a model that cannot load."""
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    live = []

    def first():
        server = start_server(data_dir=tmp_path / "a", device="cpu", runners=runners,
                              config={"aliases": {"truefusion": "digits-diffusion"}})
        live.append(server)
        return server

    def second(port):
        broken = tmp_path / "no-weights"
        broken.mkdir()
        config = {"models": {"broken-sd": {"runner": "diffusers", "path": str(broken), "type": "image"}},
                  "aliases": {"truefusion": "broken-sd"}}
        server = start_server(data_dir=tmp_path / "b", device="cpu", runners=runners, config=config, port=port)
        live.append(server)
        return server

    yield first, second
    for server in live:
        if server.running:
            server.stop()


def test_a_restarted_backend_with_another_model_is_asked_again(two_servers_one_port):
    first, second = two_servers_one_port
    server = first()
    with Skytells(base_url=server.url) as client:
        assert client.cache.enabled
        before = client.run("truefusion", REQUEST, timeout=120)
        assert before.status == "succeeded"
        assert client.run("truefusion", REQUEST, timeout=120).id == before.id  # the same server: a cache hit
        port = server.port
        server.stop()

        other = second(port)
        assert other.url == server.url
        with pytest.raises(PredictionFailed) as failed:
            client.run("truefusion", REQUEST, timeout=120)  # the same client object, the same URL
        assert failed.value.prediction.id != before.id
        assert other.state.store.get(failed.value.prediction.id)["status"] == "failed"  # the new server answered

        # a new client in a new notebook: the same
        with Skytells(base_url=other.url) as fresh, pytest.raises(PredictionFailed):
            fresh.run("truefusion", REQUEST, timeout=120)


def test_parity_does_not_pass_against_a_stale_cache(client, two_servers_one_port):
    first, second = two_servers_one_port
    server = first()
    inputs = [REQUEST["prompt"]]
    image = {k: v for k, v in REQUEST.items() if k not in ("prompt", "seed")}
    ask = {"candidate_model": "truefusion", "inputs": inputs, "seed": REQUEST["seed"], "progress": False, **image}
    with Skytells(base_url=server.url) as candidate:
        assert parity(client, candidate, "digits-diffusion", cache=True, **ask).verdict == "pass"
        port = server.port
        server.stop()
        second(port)
        for cache in (False, True):
            report = parity(client, candidate, "digits-diffusion", cache=cache, **ask)
            assert report.verdict == "fail", report
            assert report.summary["call_errors"] == 1
