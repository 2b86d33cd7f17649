"""Fixtures of the local-server tests: the real default runners (loaded once per session) and servers."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture(scope="session")
def real_runners():
    """The three built-in models, shared by every server of the session so weights load once."""
    from skytells_lab.local.runners import default_runners

    runners = default_runners("cpu")
    for runner in runners:  # load up front: requests then time the server, not the first weight load
        runner.load()
    return runners


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_runners):
    """One plain server per test file: loopback, no key, real models."""
    from skytells_lab.local import start_server

    srv = start_server(data_dir=tmp_path_factory.mktemp("server"), device="cpu", runners=real_runners)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=600) as client:
        yield client
