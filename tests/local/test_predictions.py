"""Predictions over real HTTP on the real digits diffusion model: shapes, lifecycle, cancel, lists, errors."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from _local_helpers import assert_error, wait_status

MICRO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IMAGE = "digits-diffusion"
FAST = {"prompt": "7", "num_inference_steps": 4, "seed": 1}


def test_create_returns_pending_then_the_full_succeeded_object(http, server):
    resp = http.post("/predictions", json={"model": IMAGE, "input": FAST})
    assert resp.status_code == 201
    pending = resp.json()
    assert UUID.match(pending["id"]) and pending["status"] in ("pending", "starting", "processing")
    assert pending["output"] is None and pending["completed_at"] is None
    done = wait_status(http, pending["id"], ("succeeded",))
    assert {"id", "status", "type", "stream", "input", "output", "error", "created_at", "started_at",
            "completed_at", "updated_at", "privacy", "source", "model", "webhook", "metrics", "metadata",
            "urls"} <= set(done)
    assert done["type"] == "inference" and done["source"] == "api" and done["privacy"] == "private"
    assert done["model"] == {"name": IMAGE, "type": "image"}
    assert done["webhook"] == {"url": None, "events": []}
    assert MICRO_Z.match(done["created_at"]) and MICRO_Z.match(done["updated_at"])
    assert OFFSET.match(done["started_at"]) and OFFSET.match(done["completed_at"])
    assert done["input"]["prompt"] == "7" and done["input"]["num_inference_steps"] == 4  # defaults filled in too
    assert done["metrics"]["predict_time"] > 0 and done["metrics"]["total_time"] >= done["metrics"]["predict_time"]
    assert done["metrics"]["image_count"] == 1 and done["metrics"]["progress"] == 100
    pricing = http.get(f"/models/{IMAGE}").json()["pricing"]
    assert done["metadata"]["billing"]["credits_used"] == pytest.approx(pricing["amount"])
    [url] = done["output"]
    assert url.startswith(server.url + "/files/" + done["id"] + "/")
    assert done["metadata"]["storage"]["files"][0]["url"] == url and done["metadata"]["data_available"]
    assert done["urls"] == {k: f"{server.url}/predictions/{done['id']}{s}" for k, s in
                            [("get", ""), ("cancel", "/cancel"), ("stream", "/stream"), ("delete", "/delete")]}
    image = http.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_predict_spelling_with_await_holds_until_terminal(http):
    resp = http.post("/predict", json={"model": IMAGE, "input": {**FAST, "num_outputs": 2}, "await": True,
                                       "stream": True})
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "succeeded" and len(body["output"]) == 2 and body["stream"] is True
    assert body["metrics"]["image_count"] == 2


def test_cancel_in_the_middle_of_a_run_stops_the_work(http):
    created = http.post("/predictions", json={"model": IMAGE, "input": {"prompt": "3", "num_inference_steps": 200}}).json()
    running = created
    deadline = time.monotonic() + 60
    while not (running["status"] == "processing" and running["metrics"].get("progress", 0) > 0):
        assert time.monotonic() < deadline, running
        time.sleep(0.02)
        running = http.get(f"/predictions/{created['id']}").json()
    assert 0 < running["metrics"]["progress"] < 100
    resp = http.post(f"/predictions/{created['id']}/cancel")
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True and body["status"] == "cancelled" and body["completed_at"]
    time.sleep(0.5)
    after = http.get(f"/predictions/{created['id']}").json()
    assert after["status"] == "cancelled" and after["output"] is None
    assert after["metrics"]["progress"] < 100
    # the worker is free again: the next prediction runs at once
    t0 = time.monotonic()
    assert http.post("/predict", json={"model": IMAGE, "input": FAST, "await": True}).json()["status"] == "succeeded"
    assert time.monotonic() - t0 < 30
    # a finished prediction cannot be cancelled; a cancelled one stays cancelled
    assert http.post(f"/predictions/{created['id']}/cancel").json()["status"] == "cancelled"


def test_cancel_a_finished_prediction_is_refused(http):
    done = http.post("/predict", json={"model": IMAGE, "input": FAST, "await": True}).json()
    assert_error(http.post(f"/predictions/{done['id']}/cancel"), 400, "INVALID_REQUEST")


def test_delete_both_spellings_then_the_id_is_unknown(http):
    for suffix, method in (("", "DELETE"), ("/delete", "DELETE")):
        done = http.post("/predict", json={"model": IMAGE, "input": FAST, "await": True}).json()
        resp = http.request(method, f"/predictions/{done['id']}{suffix}")
        assert resp.status_code == 200 and resp.json()["success"] is True
        assert_error(http.get(f"/predictions/{done['id']}"), 502, "PREDICTION_FAILED")
        assert http.get(done["output"][0]).status_code == 404


def test_unknown_prediction_id_answers_502_like_the_service(http):
    for path in ("/predictions/00000000-0000-0000-0000-000000000000", "/predictions/nope/stream"):
        assert_error(http.get(path), 502, "PREDICTION_FAILED")
    assert_error(http.post("/predictions/nope/cancel"), 502, "PREDICTION_FAILED")
    assert_error(http.delete("/predictions/nope"), 502, "PREDICTION_FAILED")


def test_stream_route_gives_metadata_or_server_sent_events(http):
    created = http.post("/predictions", json={"model": IMAGE, "input": FAST, "stream": True}).json()
    meta = http.get(f"/predictions/{created['id']}/stream").json()
    assert meta["id"] == created["id"] and meta["urls"]["stream"].endswith("/stream")
    with http.stream("GET", f"/predictions/{created['id']}/stream",
                     headers={"Accept": "text/event-stream"}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = "".join(resp.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {\"")]
    assert events[-1]["status"] == "succeeded" and text.rstrip().endswith("data: {}")


@pytest.mark.parametrize("body, status, error_id, field", [
    ({"input": FAST}, 422, "VALIDATION_ERROR", "model"),
    ({"model": IMAGE}, 422, "VALIDATION_ERROR", "input"),
    ({"model": "no-such-model", "input": FAST}, 404, "MODEL_NOT_FOUND", "model"),
    ({"model": IMAGE, "input": {"num_inference_steps": 4}}, 422, "VALIDATION_ERROR", "prompt"),
    ({"model": IMAGE, "input": {**FAST, "num_inference_steps": "4"}}, 422, "VALIDATION_ERROR", "num_inference_steps"),
    ({"model": IMAGE, "input": {**FAST, "num_inference_steps": 100000}}, 422, "VALIDATION_ERROR", "num_inference_steps"),
    ({"model": IMAGE, "input": {**FAST, "colour": "red"}}, 422, "VALIDATION_ERROR", "colour"),
    ({"model": IMAGE, "input": FAST, "webhook": 5}, 422, "VALIDATION_ERROR", "webhook"),
    ({"model": IMAGE, "input": FAST, "await": "yes"}, 422, "VALIDATION_ERROR", "await"),
    ({"model": "smollm2-135m-instruct", "input": {"prompt": "hi"}}, 422, "MODEL_NOT_SUPPORTED", None),
])
def test_invalid_requests_name_the_field(http, body, status, error_id, field):
    err = assert_error(http.post("/predictions", json=body), status, error_id)
    if field:
        assert field in err["message"]
        if status == 422:
            assert err["details"]["field"] == field and err["details"]["fix"]


def test_malformed_and_non_object_bodies(http):
    assert_error(http.post("/predictions", content=b"{not json", headers={"content-type": "application/json"}),
                 400, "INVALID_REQUEST")
    assert_error(http.post("/predictions", content=b""), 400, "INVALID_REQUEST")
    assert_error(http.post("/predictions", json=[1, 2]), 422, "VALIDATION_ERROR")


def test_list_pagination_filters_and_date_errors(tmp_path, real_runners):
    import httpx

    from skytells_lab.local import start_server

    with start_server(data_dir=tmp_path, device="cpu", runners=real_runners) as srv, \
            httpx.Client(base_url=srv.url) as client:
        ids = []
        for i in range(17):  # queued behind a long one, then cancelled: cheap, and all land in the list
            body = {"model": IMAGE, "input": {"prompt": str(i % 10), "num_inference_steps": 200 if i == 0 else 4}}
            ids.append(client.post("/predictions", json=body).json()["id"])
        for pid in ids:
            client.post(f"/predictions/{pid}/cancel")
        first = client.get("/predictions").json()
        assert first["pagination"] == {"current_page": 1, "per_page": 15, "total": 17, "last_page": 2}
        assert [p["id"] for p in first["data"]] == ids[::-1][:15]  # newest first
        second = client.get("/predictions", params={"page": 2}).json()
        assert [p["id"] for p in second["data"]] == ids[::-1][15:]
        assert len(client.get("/predictions", params={"per_page": 50}).json()["data"]) == 17
        assert client.get("/predictions", params={"status": "canceled"}).json()["pagination"]["total"] == 17
        assert client.get("/predictions", params={"status": "succeeded"}).json()["pagination"]["total"] == 0
        assert client.get("/predictions", params={"model": "other"}).json()["data"] == []
        today = dt.datetime.now(dt.timezone.utc).date()
        assert client.get("/predictions", params={"from": str(today), "to": str(today)}).json()[
            "pagination"]["total"] == 17
        yesterday = str(today - dt.timedelta(days=1))
        assert client.get("/predictions", params={"to": yesterday}).json()["pagination"]["total"] == 0
        assert_error(client.get("/predictions", params={"per_page": 51}), 400, "INVALID_PARAMETER")
        assert_error(client.get("/predictions", params={"page": 0}), 400, "INVALID_PARAMETER")
        assert_error(client.get("/predictions", params={"from": "2026/01/01"}), 400, "INVALID_DATE_FORMAT")
        assert_error(client.get("/predictions", params={"to": "yesterday"}), 400, "INVALID_DATE_FORMAT")
        assert_error(client.get("/predictions", params={"from": str(today), "to": yesterday}), 400,
                     "INVALID_DATE_RANGE")
        assert_error(client.get("/predictions", params={"status": "sleeping"}), 400, "INVALID_PARAMETER")
