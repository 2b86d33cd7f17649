"""Fixtures of the widget tests (the session's server and clients come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def chat_ready(local_server):
    """Load the local chat model once, with a patient client: on a fresh data dir its first load converts
    the weights, which can outlast the default client's timeout and retries on a busy 2-core machine."""
    from skytells_lab import Skytells

    with Skytells(base_url=local_server.url, timeout=900, max_retries=0) as patient:
        patient.chat.completions.create(model="smollm2-135m-instruct", max_tokens=1,
                                        messages=[{"role": "user", "content": "hi"}])
    return True
