"""Credits cannot be overspent: each create reserves its price, released when the prediction fails or is
cancelled, so concurrent creates never spend more than the balance."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import httpx
import pytest

from skytells_lab.local.runners.base import PredictionRunner

PRICE = 0.002  # digits-diffusion, per image
FAST = {"prompt": "7", "num_inference_steps": 1, "width": 16, "height": 16}


def _runners(local_server):
    return list(local_server.state.catalog._runners.values())


def _spent(client: httpx.Client) -> float:
    return client.get("/health").json()["credits"]["used"]


def _settle(client: httpx.Client, ids, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    statuses = []
    for pid in ids:
        while (status := client.get(f"/predictions/{pid}").json()["status"]) not in (
                "succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"{pid} still {status}"
            time.sleep(0.05)
        statuses.append(status)
    return statuses


def test_concurrent_creates_never_spend_more_than_the_balance(tmp_path, local_server):
    from skytells_lab.local import start_server

    config = {"server": {"credits": 2 * PRICE, "workers": 2}}  # a balance worth two images
    with start_server(data_dir=tmp_path, device="cpu", config=config, runners=_runners(local_server)) as srv, \
            httpx.Client(base_url=srv.url, timeout=120) as client:
        gate, answers = threading.Barrier(10), []

        def create():
            with httpx.Client(base_url=srv.url, timeout=120) as own:
                gate.wait()
                answers.append(own.post("/predictions", json={"model": "digits-diffusion", "input": FAST}))

        threads = [threading.Thread(target=create) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created = [r.json()["id"] for r in answers if r.status_code == 201]
        refused = [r for r in answers if r.status_code != 201]
        assert len(created) == 2, [r.status_code for r in answers]
        assert all(r.status_code == 402 and r.json()["error"]["error_id"] == "INSUFFICIENT_CREDITS" for r in refused)
        assert _settle(client, created) == ["succeeded"] * 2
        assert _spent(client) == pytest.approx(2 * PRICE)
        # the balance is used up: one more create is refused and nothing more is spent
        assert client.post("/predictions", json={"model": "digits-diffusion", "input": FAST}).status_code == 402
        assert _spent(client) <= 2 * PRICE + 1e-9


def test_a_cancelled_prediction_gives_its_reservation_back(tmp_path, local_server):
    from skytells_lab.local import start_server

    slow = {**FAST, "num_inference_steps": 200}
    config = {"server": {"credits": 5 * PRICE}}  # one worker: the second waits while the first runs
    with start_server(data_dir=tmp_path, device="cpu", config=config, runners=_runners(local_server)) as srv, \
            httpx.Client(base_url=srv.url, timeout=120) as client:
        first = client.post("/predictions", json={"model": "digits-diffusion", "input": slow})
        assert first.status_code == 201
        second = client.post("/predictions", json={"model": "digits-diffusion", "input": {**FAST, "num_outputs": 4}})
        assert second.status_code == 201  # 1 + 4 images reserved: the balance is held in full
        third = client.post("/predictions", json={"model": "digits-diffusion", "input": FAST})
        assert third.status_code == 402
        assert third.json()["error"]["details"]["credits_reserved"] == pytest.approx(5 * PRICE)
        assert client.post(f"/predictions/{second.json()['id']}/cancel").status_code == 200
        again = client.post("/predictions", json={"model": "digits-diffusion", "input": FAST})
        assert again.status_code == 201, again.text[:300]
        for pid in (first.json()["id"], again.json()["id"]):
            client.post(f"/predictions/{pid}/cancel")
        _settle(client, [first.json()["id"], again.json()["id"]])
        assert _spent(client) <= 5 * PRICE + 1e-9


class _BrokenPriced(PredictionRunner):
    """A priced model whose every prediction fails (a fault a real model cannot be made to raise)."""

    slug, type, capabilities = "broken-priced", "image", ["text-to-image"]
    pricing: ClassVar[dict] = {"amount": 1.0, "currency": "USD", "unit": "image"}

    def _load(self) -> None:
        pass

    def input_schema(self) -> dict:
        return {"type": "object", "properties": {"prompt": {"type": "string", "maxLength": 100}}}

    def predict(self, input, ctx):
        raise RuntimeError("out of memory")


def test_a_failed_prediction_gives_its_reservation_back(tmp_path):
    from skytells_lab.local import start_server

    with start_server(data_dir=tmp_path, device="cpu", config={"server": {"credits": 1.0}},
                      runners=[_BrokenPriced()]) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        for _ in range(3):  # each one holds the whole balance until it fails
            created = client.post("/predictions", json={"model": "broken-priced", "input": {"prompt": "x"}})
            assert created.status_code == 201, created.text[:300]
            assert _settle(client, [created.json()["id"]]) == ["failed"]
        assert _spent(client) == 0
