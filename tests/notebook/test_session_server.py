"""The session server of `skytells-lab lab` and Binder (a separate process): kernels find it through
SKYTELLS_BASE_URL, and a kernel's WebhookInbox verifies its signed deliveries with the secret it shares."""

from __future__ import annotations

import time

import pytest

from skytells_lab.cli import start_session_server, stop_session_server

pytestmark = pytest.mark.timeout(300)
FAST = {"prompt": "7", "num_inference_steps": 4, "seed": 1}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    process, env = start_session_server(device="cpu", data_dir=tmp_path_factory.mktemp("session-server"))
    yield process, env
    stop_session_server(process)


def test_a_kernel_inbox_verifies_deliveries_of_the_session_server(session, monkeypatch):
    process, env = session
    # this test process plays a kernel of the session: the server is another process
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SKYTELLS_API_KEY", raising=False)
    import skytells_lab as sl

    with sl.connect() as client:
        assert client.base_url == env["SKYTELLS_BASE_URL"] and client.is_local
        assert process.poll() is None
        inbox = sl.WebhookInbox(client=client)
        try:
            assert inbox.verifies
            prediction = client.predictions.create(model="digits-diffusion", input=FAST,
                                                   webhook=inbox.webhook(["prediction.succeeded"]))
            (event,) = inbox.wait_for(prediction_id=prediction.id, type="prediction.succeeded", timeout=120)
            assert event.verified is True and inbox.rejected == 0
        finally:
            inbox.close()


def test_an_inbox_with_another_secret_rejects_the_deliveries(session, monkeypatch):
    _, env = session
    monkeypatch.setenv("SKYTELLS_BASE_URL", env["SKYTELLS_BASE_URL"])
    import skytells_lab as sl

    with sl.connect() as client:
        inbox = sl.WebhookInbox(secret="whsec_not-the-server-s", client=client)
        try:
            prediction = client.predictions.create(model="digits-diffusion", input={**FAST, "seed": 2},
                                                   webhook=inbox.webhook(["prediction.succeeded"]))
            client.predictions.wait(prediction.id, timeout=120)
            deadline = time.monotonic() + 30
            while inbox.rejected == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert inbox.rejected >= 1 and not inbox.matching(prediction_id=prediction.id)
        finally:
            inbox.close()
