"""Nothing unrenderable is stored: NaN, Infinity and invalid Unicode are refused at parse time on every
route (400 naming the field), and a row an older version stored with them never breaks the listing."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import httpx
import pytest

from skytells_lab.local.errors import ApiError
from skytells_lab.local.validation import check_value

DIGITS = {"prompt": "3", "num_inference_steps": 1, "width": 16, "height": 16}


@pytest.fixture(scope="module")
def srv(tmp_path_factory, local_server):
    from skytells_lab.local import start_server

    runners = list(local_server.state.catalog._runners.values())
    server = start_server(data_dir=tmp_path_factory.mktemp("store"), device="cpu", runners=runners)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(srv):
    with httpx.Client(base_url=srv.url, timeout=120, headers={"content-type": "application/json"}) as client:
        yield client


def _digits(**fields) -> str:
    return json.dumps({"model": "digits-diffusion", "input": {**DIGITS, **fields}})


# raw JSON text: NaN/Infinity are what Python's json (and JavaScript's JSON.parse-free senders) write,
# "\ud800" a lone surrogate escaped as JSON allows
BAD = [
    ("/predictions", _digits(guidance_scale=float("nan")), "input.guidance_scale"),
    ("/predictions", _digits(guidance_scale=float("inf")), "input.guidance_scale"),
    ("/predictions", _digits(strength=float("-inf")), "input.strength"),
    ("/predictions", _digits().replace('"width": 16', '"width": 1e999'), "input.width"),
    ("/predictions", _digits(prompt="a \ud800 seven"), "input.prompt"),
    ("/predictions", _digits().replace('"prompt"', '"\\udc00prompt"', 1), "input.\\udc00prompt"),
    ("/predictions", json.dumps({"model": "digits\ud800", "input": DIGITS}), "model"),
    ("/chat/completions", json.dumps({"model": "smollm2-135m", "messages": [
        {"role": "user", "content": "hi \udfff"}]}), "messages[0].content"),
    ("/chat/completions", json.dumps({"model": "smollm2-135m", "temperature": float("nan"),
                                      "messages": [{"role": "user", "content": "hi"}]}), "temperature"),
    ("/responses", json.dumps({"model": "smollm2-135m", "input": "x", "instructions": "\ud83d"}), "instructions"),
    ("/responses", json.dumps({"model": "smollm2-135m", "input": "x", "top_p": float("inf")}), "top_p"),
    ("/embeddings", json.dumps({"model": "all-minilm-l6-v2", "input": ["ok", "bad \ud800"]}), "input[1]"),
    ("/embeddings", json.dumps({"model": "all-minilm-l6-v2\udc80", "input": "ok"}), "model"),
]


@pytest.mark.parametrize(("path", "raw", "field"), BAD, ids=[f"{p}:{f}" for p, _, f in BAD])
def test_non_finite_and_invalid_unicode_are_400_naming_the_field(http, path, raw, field):
    before = http.get("/predictions").json()["pagination"]["total"]
    response = http.post(path, content=raw.encode())
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    message = body["error"]["message"]
    assert f"'{field}'" in message, message
    if path == "/predictions":
        assert body["status"] is False and body["error"]["error_id"] == "INVALID_PARAMETER"
    else:
        assert body["error"]["param"] == field and body["error"]["type"] == "invalid_request_error"
    listing = http.get("/predictions")
    assert listing.status_code == 200 and listing.json()["pagination"]["total"] == before  # nothing stored


def test_valid_non_ascii_text_still_passes(http):
    response = http.post("/predictions", content=_digits(prompt="un sept \u00e9crit \U0001f600").encode())
    assert response.status_code == 201, response.text[:300]
    response = http.post("/embeddings", content=json.dumps({"model": "all-minilm-l6-v2", "input": "caf\u00e9 \u2615"}))
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_minimum_and_maximum_hold_for_non_finite_numbers(value):
    with pytest.raises(ApiError) as info:
        check_value("guidance_scale", {"type": "number", "minimum": 0, "maximum": 20}, value)
    assert info.value.param == "guidance_scale" and "finite" in info.value.message


def _store_old_rows(srv) -> dict[str, str]:
    """Rows as an older version wrote them: NaN in the input, a lone surrogate, a column that is not JSON."""
    rows = {"nan": '{"prompt": "3", "guidance_scale": NaN}', "surrogate": '{"prompt": "\\ud800"}',
            "corrupt": '{"prompt": '}
    ids = {}
    with sqlite3.connect(srv.data_dir / "predictions.db") as db:
        for kind, raw in rows.items():
            pid = str(uuid.uuid4())
            now = time.time()
            db.execute("INSERT INTO predictions (id, model, local_model, model_type, status, input, created, "
                       "updated, completed) VALUES (?, 'digits-diffusion', 'digits-diffusion', 'image', "
                       "'succeeded', ?, ?, ?, ?)", (pid, raw, now, now, now))
            ids[kind] = pid
    return ids


def test_rows_stored_unrenderable_never_break_the_listing(srv, http):
    ok = http.post("/predictions", content=_digits().encode()).json()["id"]
    ids = _store_old_rows(srv)
    listing = http.get("/predictions", params={"per_page": 50})
    assert listing.status_code == 200, listing.text[:300]
    shown = {p["id"]: p for p in listing.json()["data"]}
    assert set(ids.values()) | {ok} <= set(shown)
    assert "unreadable" not in shown[ok]
    assert shown[ids["nan"]]["input"]["guidance_scale"] is None
    assert shown[ids["nan"]]["unreadable"]["fields"] == ["input.guidance_scale"]
    assert shown[ids["surrogate"]]["input"]["prompt"] == "\ufffd"
    assert shown[ids["corrupt"]]["unreadable"]["fields"] == ["input"]
    for pid in ids.values():
        assert shown[pid]["unreadable"]["error_id"] == "PREDICTION_UNREADABLE"
        response = http.get(f"/predictions/{pid}")
        assert response.status_code == 422, response.text[:300]
        error = response.json()["error"]
        assert error["error_id"] == "PREDICTION_UNREADABLE" and "DELETE" in error["message"]
        assert http.get(f"/predictions/{pid}/stream").status_code == 422
    # the official client lists them too, and the user can clean up
    from skytells_lab import Skytells

    with Skytells(base_url=srv.url) as client:
        assert {p.id for p in client.predictions.list(per_page=50)} >= set(ids.values())
    for pid in ids.values():
        assert http.delete(f"/predictions/{pid}").status_code == 200
    listing = http.get("/predictions", params={"per_page": 50}).json()["data"]
    assert not any("unreadable" in p for p in listing)
