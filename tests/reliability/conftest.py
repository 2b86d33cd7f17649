"""Fixtures of the reliability tests: a fault-injecting proxy in front of the session's local server.

Everything binds to 127.0.0.1, is bounded in requests and time, and stops with its fixture.
"""

from __future__ import annotations

import pytest
from support.faults import FaultServer


@pytest.fixture
def proxy(local_server):
    """A FaultServer forwarding to the session's local server (no faults until scripted or chaos())."""
    with FaultServer(upstream=local_server.url) as server:
        yield server
