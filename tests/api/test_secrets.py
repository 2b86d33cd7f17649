"""The API key never appears in a repr, str, error message or log record, even at DEBUG."""

from __future__ import annotations

import logging
import pickle

import pytest
from conftest import FAST, KEY
from support.faults import Fault

from skytells_lab.api import AuthenticationError, Skytells, SkytellsError


def test_key_never_in_reprs_errors_or_logs(faults, service, caplog):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log requests and headers at DEBUG
    faults.script("GET", "/v1/models", Fault.json(
        {"status": False, "response": f"bad key {KEY}",
         "error": {"http_status": 401, "message": f"Invalid API key {KEY}", "details": {"key": KEY},
                   "error_id": "UNAUTHORIZED"}}, 401))
    faults.script("GET", "/v1/predictions/x", Fault.drop(), Fault.drop(), Fault.drop(), Fault.drop())
    texts = []
    with Skytells(KEY, faults.url, **FAST) as c:
        texts += [repr(c), str(c), repr(c.predictions), repr(vars(c)), repr(c._api_key)]
        with pytest.raises(AuthenticationError) as info:
            c.models.list()
        texts += [str(info.value), repr(info.value), repr(info.value.details), info.value.message]
        with pytest.raises(SkytellsError) as info:
            c.predictions.get("x")
        texts += [str(info.value), repr(info.value)]
        c.chat.completions.create(model="m", messages=[])
        p = c.run("truefusion", {"prompt": "x"}, poll_interval=0.01)
        texts += [repr(p), str(p), repr(c.status()), repr(c.with_options(max_retries=1))]
        with pytest.raises(TypeError):
            pickle.dumps(c)
    records = [r.getMessage() + repr(r.args) for r in caplog.records]
    assert any("HTTP Request" in r for r in records)  # httpx did log at DEBUG/INFO
    for text in texts + records:
        assert KEY not in text


def test_scrubbed_server_echo(faults, service):
    faults.script("GET", "/v1/models", Fault.json({"error": {"message": f"key {KEY} rejected",
                                                             "error_id": "UNAUTHORIZED"}}, 401))
    with Skytells(KEY, faults.url, **FAST) as c, pytest.raises(AuthenticationError) as info:
        c.models.list()
    assert KEY not in str(info.value) and "***" in str(info.value)
