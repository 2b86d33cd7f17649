"""prediction.stream() / predictions.stream(id): the SSE of urls.stream as typed events, sync and async."""

from __future__ import annotations

import pytest
from conftest import FAST, KEY
from support.faults import Reply

from skytells_lab.api import (
    AsyncPredictionStream,
    AsyncSkytells,
    Prediction,
    PredictionEvent,
    PredictionStatus,
    PredictionStream,
    Skytells,
    StreamInterrupted,
)

DIGITS = "digits-diffusion"
STEPS = {"num_inference_steps": 6, "width": 32, "height": 32}
SLOW = {"num_inference_steps": 60, "width": 32, "height": 32}  # long enough for the stream to see steps


@pytest.fixture
def local(local_server):
    with Skytells(base_url=local_server.url) as c:
        c.cache.disable()
        yield c


def test_a_running_prediction_streams_status_progress_and_its_outputs(local):
    p = local.predictions.create(DIGITS, {"prompt": "7", **SLOW}, stream=True)
    stream = p.stream()
    assert isinstance(stream, PredictionStream)
    events = list(stream)
    assert all(isinstance(e, PredictionEvent) for e in events)
    assert events[0].type == "status"
    kinds = [e.type for e in events]
    assert "progress" in kinds and kinds[-1] == "output"
    progress = [e.progress for e in events if e.progress is not None]
    assert progress == sorted(progress) and progress[-1] == 100
    last = stream.final()
    assert isinstance(last, Prediction) and last.status == PredictionStatus.SUCCEEDED and last.outputs
    assert last.images()[0].size == (32, 32)  # bound to the client
    assert repr(events[-1]).startswith("PredictionEvent('output', status='succeeded'")


def test_a_finished_prediction_streams_once_and_an_early_close_leaves_it_running(local):
    p = local.predictions.create(DIGITS, {"prompt": "1", **STEPS}, stream=True)
    with local.predictions.stream(p.id) as stream:
        first = next(iter(stream))
    assert first.type == "status"
    done = p.wait(timeout=60)
    assert done.succeeded
    again = list(local.predictions.stream(done))
    assert [e.type for e in again] == ["output"]


async def test_the_async_twin_streams_too(local_server):
    async with AsyncSkytells(base_url=local_server.url) as c:
        p = await c.predictions.create(DIGITS, {"prompt": "3", **STEPS}, stream=True)
        stream = await p.stream()
        assert isinstance(stream, AsyncPredictionStream)
        kinds = [e.type async for e in stream]
        assert kinds[0] == "status" and kinds[-1] == "output"
        assert (await stream.final()).succeeded


def _snapshot(status: str, logs: str = "", output=None) -> dict:
    return {"id": "pred-9", "status": status, "model": "truefusion", "logs": logs, "output": output}


def test_logs_and_the_json_answer_of_a_backend_without_sse(faults, service):
    snapshots = [_snapshot("processing", "loading\n"), _snapshot("processing", "loading\nstep 1\n"),
                 _snapshot("succeeded", "loading\nstep 1\n", ["https://cdn.example/x.png"])]
    faults.route("GET", r"/v1/predictions/pred-9/stream", lambda r: Reply.sse(snapshots))
    faults.route("GET", r"/v1/predictions/pred-8/stream", lambda r: Reply.json(
        {**_snapshot("processing"), "id": "pred-8"}))
    faults.route("GET", r"/v1/predictions/pred-7/stream", lambda r: Reply.sse(snapshots[:1], done=False))
    with Skytells(KEY, faults.url, local=False, **FAST) as c:
        events = list(c.predictions.stream("pred-9"))
        assert [e.type for e in events] == ["status", "log", "output"]
        assert events[1].log == "step 1\n" and events[2].outputs == ["https://cdn.example/x.png"]
        assert faults.requests[-1].headers.get("x-api-key") == KEY
        assert "text/event-stream" in faults.requests[-1].headers.get("Accept", "")
        meta = list(c.predictions.stream("pred-8"))
        assert [(e.type, str(e.status)) for e in meta] == [("status", "processing")]
        with pytest.raises(StreamInterrupted):  # cut before the prediction ended
            list(c.predictions.stream("pred-7"))
