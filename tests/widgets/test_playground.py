"""Playground against the local server: image run, cancel, chat streaming, error cards, history."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from skytells_lab import Skytells
from skytells_lab.widgets import Playground


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escape a worker thread (there must be none: errors become cards)."""
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def test_image_run_shows_the_picture_and_lands_in_history(client, thread_errors):
    pg = Playground(client, model="digits-diffusion")
    assert list(pg.form.fields)[:3] == ["prompt", "image", "strength"]
    pg.form.value = {"prompt": "a seven", "num_inference_steps": 4, "width": 32, "height": 32, "seed": 3}
    pg.run_button.click()
    assert pg.run_button.disabled or pg.history.shape[0] == 1  # the click returned while the run goes on
    pg.wait(120)
    row = pg.history.iloc[-1]
    assert (row["model"], row["kind"], row["status"]) == ("digits-diffusion", "prediction", "succeeded")
    assert row["input"]["seed"] == 3 and row["prediction_id"] and len(row["outputs"]) == 1
    assert 'data-status="succeeded"' in pg.status.value and pg.progress.value == 100
    src = pg.output.value.split('class="sl-output-image" src="', 1)[1].split('"', 1)[0]
    assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert not pg.run_button.disabled and pg.cancel_button.disabled and not pg.running
    assert client.predictions.get(row["prediction_id"]).status == "succeeded"
    assert thread_errors == []


def test_image_run_shows_live_progress_from_the_stream(client, thread_errors):
    pg = Playground(client, model="digits-diffusion")
    seen: list[float] = []
    pg.progress.observe(lambda change: seen.append(change["new"]), names="value")
    pg.form.value = {"prompt": "a two", "num_inference_steps": 60, "width": 32, "height": 32}
    kinds = []
    observer = client.add_observer(lambda record: kinds.append(record.kind))
    try:
        pg.run_button.click()
        pg.wait(120)
    finally:
        client.remove_observer(observer)
    assert pg.history.iloc[-1]["status"] == "succeeded" and pg.progress_source == "stream"
    assert any(0 < v < 100 for v in seen) and seen == sorted(seen)  # intermediate steps, in order
    assert "predictions.stream" in kinds and "predictions.get" not in kinds  # no polling
    assert thread_errors == []


def test_invalid_form_is_not_sent(client):
    pg = Playground(client, model="digits-diffusion")
    assert pg.run() is None  # prompt is required and empty
    assert "required" in pg.form.fields["prompt"].message.value
    assert 'data-status="invalid"' in pg.status.value and pg.history.empty


def test_cancel_really_cancels_a_long_run(client, thread_errors):
    pg = Playground(client, model="digits-diffusion", poll_interval=0.05)
    pg.form.value = {"prompt": "3", "num_inference_steps": 200, "num_outputs": 4, "guidance_scale": 3.0}
    pg.run_button.click()
    deadline = time.monotonic() + 60
    while pg.current_id is None or client.predictions.get(pg.current_id).status not in ("started", "processing"):
        assert time.monotonic() < deadline, "the prediction never started"
        time.sleep(0.02)
    prediction_id = pg.current_id
    assert pg.running and not pg.cancel_button.disabled
    pg.cancel_button.click()
    pg.wait(60)
    row = pg.history.iloc[-1]
    assert row["status"] == "cancelled" and row["prediction_id"] == prediction_id
    assert client.predictions.get(prediction_id).status == "cancelled"
    assert 'data-status="cancelled"' in pg.status.value
    assert thread_errors == []


def test_chat_streams_the_reply(client, chat_ready, thread_errors):
    pg = Playground(client, model="smollm2-135m-instruct")
    assert "prompt" in pg.form.fields and "max_tokens" in pg.form.fields
    frames = []
    pg.output.observe(lambda change: frames.append(change["new"]), names="value")
    pg.form.value = {"prompt": "Name three colours.", "max_tokens": 24, "temperature": 0.0}
    pg.run_button.click()
    pg.wait(120)
    row = pg.history.iloc[-1]
    assert (row["kind"], row["status"]) == ("chat", "succeeded") and row["text"]
    streamed = [f for f in frames if "sl-cursor" in f]
    assert len(set(streamed)) >= 2, "the reply should appear piece by piece"
    assert "sl-cursor" not in pg.output.value and "sl-output-text" in pg.output.value
    assert thread_errors == []


def test_embedding_model_shows_the_vector(client):
    pg = Playground(client, model="all-minilm-l6-v2")
    pg.form.value = {"input": "a cat"}
    pg.run_button.click()
    pg.wait(120)
    assert pg.history.iloc[-1]["text"] == "384-d vector" and "dimensions" in pg.output.value


def test_failed_prediction_shows_an_error_card(client, thread_errors):
    pg = Playground(client, model="digits-diffusion")
    pg.form.value = {"prompt": "no numeral here", "num_inference_steps": 2}
    pg.run_button.click()
    pg.wait(60)
    assert pg.history.iloc[-1]["status"] == "failed"
    assert "sl-error-card" in pg.output.value and "digit" in pg.output.value
    assert thread_errors == []


def test_failing_call_shows_an_error_card_not_a_traceback(client, thread_errors):
    pg = Playground(client, model="digits-diffusion")
    pg.form.value = {"prompt": "5", "num_inference_steps": 2}
    with Skytells(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2) as dead:
        pg.client = dead  # the backend went away between picking and running
        pg.run_button.click()
        pg.wait(30)
    row = pg.history.iloc[-1]
    assert row["status"] == "error" and row["error"]
    assert "sl-error-card" in pg.output.value and 'data-status="error"' in pg.status.value
    assert not pg.run_button.disabled
    assert thread_errors == []


def test_history_accumulates_and_static_fallback(client):
    pg = Playground(client, model="digits-diffusion")
    for digit in ("1", "2"):
        pg.form.value = {"prompt": digit, "num_inference_steps": 2, "width": 16, "height": 16}
        pg.run_button.click()
        pg.wait(60)
    history = pg.history
    assert list(history["run"]) == [1, 2] and list(history["status"]) == ["succeeded", "succeeded"]
    assert [h["prompt"] for h in history["input"]] == ["1", "2"]
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "sl-output-image" in bundle["text/html"] and "succeeded" in bundle["text/html"]
