from __future__ import annotations

import pytest
from fake_skytells_service import FakeService
from support.faults import FaultServer

from skytells_lab.api import AsyncSkytells, Skytells

KEY = "sk-test-SECRET-0123456789abcdef"
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def faults():
    with FaultServer() as server:
        yield server


@pytest.fixture
def service(faults):
    return FakeService(faults)


@pytest.fixture
def client(faults, service):
    with Skytells(KEY, faults.url, max_retries=3, **FAST) as c:
        c.cache.disable()  # these tests count the requests the service sees
        yield c


@pytest.fixture
def make_async(faults, service):
    def make(**kw) -> AsyncSkytells:
        return AsyncSkytells(KEY, faults.url, **{"max_retries": 3, **FAST, **kw})

    return make
