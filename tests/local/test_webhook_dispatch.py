"""Signed webhooks received by a real loopback receiver: events, envelope and bare forms, retries."""

from __future__ import annotations

import json

import httpx
import pytest
from _local_fakes import BrokenRunner
from _local_helpers import WebhookReceiver, verify

from skytells_lab.local import start_server

FAST = {"prompt": "4", "num_inference_steps": 4, "seed": 3}


@pytest.fixture
def receiver():
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory, real_runners):
    config = {"server": {"webhook_secret": "whsec_test", "webhook_backoff": 0.1}}
    srv = start_server(data_dir=tmp_path_factory.mktemp("hooks"), device="cpu", config=config,
                       runners=[*real_runners, BrokenRunner(device="cpu")])
    yield srv
    srv.stop()


def test_started_and_succeeded_are_posted_signed_in_the_envelope(hooked, receiver):
    with httpx.Client(base_url=hooked.url, timeout=600) as client:
        done = client.post("/predict", json={"model": "digits-diffusion", "input": FAST, "await": True,
                                             "webhook": {"url": receiver.url, "events": []}}).json()
    calls = receiver.wait_for(2)
    assert receiver.events() == ["prediction.started", "prediction.succeeded"]
    for call in calls:
        assert verify(call["raw"], call["headers"]["X-Skytells-Signature"], "whsec_test")
        assert call["headers"]["Content-Type"] == "application/json"
    final = json.loads(calls[1]["raw"])
    assert final["data"]["id"] == done["id"] and final["data"]["status"] == "succeeded"
    assert final["data"]["output"] == done["output"] and final["created_at"].endswith("Z")
    assert json.loads(calls[0]["raw"])["data"]["status"] == "processing"
    assert calls[1]["headers"]["X-Skytells-Event"] == "prediction.succeeded"


def test_a_plain_url_string_and_an_event_filter(hooked, receiver):
    with httpx.Client(base_url=hooked.url, timeout=600) as client:
        plain = client.post("/predict", json={"model": "broken-model", "input": {"prompt": "x"}, "await": True,
                                              "webhook": receiver.url}).json()
        assert plain["webhook"] == {"url": receiver.url, "events": []} and plain["status"] == "failed"
        receiver.wait_for(2)
        assert receiver.events() == ["prediction.started", "prediction.failed"]
        assert json.loads(receiver.calls[1]["raw"])["data"]["error"] == "Failed to generate image."
        filtered = client.post("/predictions", json={
            "model": "digits-diffusion", "input": {**FAST, "num_inference_steps": 200},
            "webhook": {"url": receiver.url, "events": ["canceled"]}}).json()
        assert filtered["webhook"]["events"] == ["prediction.cancelled"]
        client.post(f"/predictions/{filtered['id']}/cancel")
    receiver.wait_for(3)
    assert receiver.events()[2] == "prediction.cancelled"


def test_failed_deliveries_are_retried_with_backoff_without_holding_the_worker(hooked):
    flaky = WebhookReceiver(fail_first=2)
    try:
        with httpx.Client(base_url=hooked.url, timeout=600) as client:
            body = {"model": "digits-diffusion", "input": FAST, "await": True,
                    "webhook": {"url": flaky.url, "events": ["prediction.succeeded"]}}
            assert client.post("/predict", json=body).json()["status"] == "succeeded"
        calls = flaky.wait_for(3)
        assert [json.loads(c["raw"])["type"] for c in calls] == ["prediction.succeeded"] * 3
        assert [c["headers"]["X-Skytells-Attempt"] for c in calls] == ["1", "2", "3"]
        assert len({c["headers"]["X-Skytells-Delivery"] for c in calls}) == 1
        assert calls[2]["time"] - calls[1]["time"] >= calls[1]["time"] - calls[0]["time"] >= 0.09
    finally:
        flaky.close()


def test_bare_prediction_bodies_when_configured_signed_with_the_api_key(tmp_path, real_runners, receiver):
    config = {"server": {"webhook_format": "prediction"}}
    with start_server(data_dir=tmp_path, device="cpu", config=config, api_key="sk-hook",
                      runners=[BrokenRunner(device="cpu")]) as srv, \
            httpx.Client(base_url=srv.url, headers={"x-api-key": "sk-hook"}) as client:
        client.post("/predict", json={"model": "broken-model", "input": {"prompt": "x"}, "await": True,
                                      "webhook": {"url": receiver.url, "events": ["prediction.failed"]}})
        [call] = receiver.wait_for(1)
        body = json.loads(call["raw"])
        assert body["status"] == "failed" and body["type"] == "inference" and "data" not in body
        assert verify(call["raw"], call["headers"]["X-Skytells-Signature"], "sk-hook")
