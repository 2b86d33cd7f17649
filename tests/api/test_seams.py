"""The client's seams over real HTTP (the fake service on loopback): before-call hooks, after-call observers,
a result store passed in, the one wait (on_update, cancel, watch) and output files."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import FAST, KEY
from support.faults import Reply

from skytells_lab.api import (
    CallRecord,
    InvalidInputError,
    Ledger,
    PredictionStatus,
    ResultStore,
    Skytells,
)


class MemoryStore:
    enabled = True

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get_many(self, keys):
        return {k: self.data[k] for k in keys if k in self.data}

    def set_many(self, items, *, kind="", model=None):
        self.data.update(items)


def test_a_hook_sees_each_call_before_it_is_sent_and_can_stop_it(client, faults):
    seen = []

    @client.add_hook
    def refuse_creates(call):
        seen.append((call.kind, call.model))
        if call.kind == "predictions.create":
            raise InvalidInputError("not in this notebook; nothing was sent")

    client.models.list()
    sent = len(faults.requests)
    with pytest.raises(InvalidInputError, match="nothing was sent"):
        client.predictions.create("truefusion", {"prompt": "x"}, compatibility_check=False)
    assert len(faults.requests) == sent and ("predictions.create", "truefusion") in seen
    client.remove_hook(refuse_creates)
    assert client.predictions.create("truefusion", {"prompt": "x"}, compatibility_check=False).id


def test_observers_and_the_bounded_ledger(client):
    records: list[CallRecord] = []
    client.add_observer(records.append)
    client.models.list()
    client.with_options(max_retries=0).models.list()  # a clone shares the observers and the ledger
    assert [r.kind for r in records] == ["models.list", "models.list"] and all(r.ok for r in records)
    assert len(client.ledger) >= 2 and client.ledger.entries[-1].kind == "models.list"

    small = Ledger(max_calls=2)
    for record in records * 3:
        small.record(record)
    assert len(small) == 2


def test_a_store_passed_in_answers_a_seeded_repeat(faults, service):
    store = MemoryStore()
    assert isinstance(store, ResultStore)
    with Skytells(KEY, faults.url, store=store, **FAST) as client:
        first = client.run("truefusion", {"prompt": "cat", "seed": 3}, poll_interval=0.01)
        again = client.run("truefusion", {"prompt": "cat", "seed": 3}, poll_interval=0.01)
        assert again.id == first.id and again._cached and len(service.predictions) == 1
        assert client.run("truefusion", {"prompt": "cat"}, poll_interval=0.01).id != first.id  # no seed
        assert client.run("truefusion", {"prompt": "cat"}, poll_interval=0.01, cache=True).id not in (None, first.id)
        assert client.run("truefusion", {"prompt": "cat"}, poll_interval=0.01, cache=True)._cached
    with Skytells(KEY, faults.url, store=None, **FAST) as client:
        assert client.cache is None
        assert client.run("truefusion", {"prompt": "cat", "seed": 3}, poll_interval=0.01).id != first.id
    with pytest.raises(TypeError, match="ResultStore"):
        Skytells(KEY, faults.url, store={})


def test_wait_reports_each_state_and_watch_yields_them(client, service):
    service.polls_until_done = 3
    p = client.predictions.create("truefusion", {"prompt": "cat"}, compatibility_check=False)
    states = []
    done = client.predictions.wait(p, poll_interval=0.01, on_update=states.append)
    assert done.status == PredictionStatus.SUCCEEDED and states[-1].status == PredictionStatus.SUCCEEDED
    assert PredictionStatus.PROCESSING in [s.status for s in states]

    q = client.predictions.create("truefusion", {"prompt": "dog"}, compatibility_check=False)
    watched = list(client.predictions.watch(q.id, poll_interval=0.01))
    assert watched[-1].status == PredictionStatus.SUCCEEDED and len(watched) >= 2
    assert all(not s.is_terminal for s in watched[:-1])


def test_cancel_stops_the_prediction_on_the_server_once(client, service, faults):
    service.polls_until_done = 10**6
    p = client.predictions.create("truefusion", {"prompt": "slow"}, compatibility_check=False)
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    done = client.predictions.wait(p, poll_interval=0.05, cancel=stop)
    assert done.status == PredictionStatus.CANCELLED
    assert faults.count("POST", f"/v1/predictions/{p.id}/cancel") == 1
    polls = []
    assert client.predictions.wait(p.id, cancel=lambda: True, on_update=polls.append).is_terminal
    assert faults.count("POST", f"/v1/predictions/{p.id}/cancel") == 1  # already terminal: nothing to cancel
    with pytest.raises(TypeError, match="cancel"):
        client.predictions.wait(p.id, cancel="yes")


def test_the_prediction_waits_with_the_same_callbacks(client, service, faults):
    service.polls_until_done = 3
    p = client.predictions.create("truefusion", {"prompt": "cat"}, compatibility_check=False)
    states = []
    assert p.wait(poll_interval=0.01, on_update=states.append).status == PredictionStatus.SUCCEEDED
    assert PredictionStatus.PROCESSING in [s.status for s in states]
    service.polls_until_done = 10**6
    q = client.predictions.create("truefusion", {"prompt": "slow"}, compatibility_check=False)
    assert q.wait(poll_interval=0.01, cancel=lambda: True).status == PredictionStatus.CANCELLED
    assert faults.count("POST", f"/v1/predictions/{q.id}/cancel") == 1


def test_the_async_twins(make_async, service):
    service.polls_until_done = 2

    async def go():
        async with make_async() as client:
            p = await client.predictions.create("truefusion", {"prompt": "cat"}, compatibility_check=False)
            states = [s async for s in client.predictions.watch(p.id, poll_interval=0.01)]
            done = await client.predictions.wait(p.id, poll_interval=0.01, on_update=states.append)
            data = await client.files.get(done.outputs[0])
            return states, done, data

    states, done, data = asyncio.run(go())
    assert states[-1].status == done.status == PredictionStatus.SUCCEEDED and data == b"PNG!"


@pytest.fixture(autouse=True)
def _files(faults):
    faults.route("GET", r"/files/.+\.png", lambda r: Reply(200, b"PNG!", {"Content-Type": "image/png"}))


def test_files_get_reads_an_output_file_absolute_or_relative(client, service, faults):
    p = client.run("truefusion", {"prompt": "cat"}, poll_interval=0.01)
    assert client.files.get(p.outputs[0]) == b"PNG!"
    assert client.files.get(p.outputs[0].replace(faults.origin, "")) == b"PNG!"  # relative: against the API
