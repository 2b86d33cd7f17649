"""HTML cards built from wire dicts: the right fields, media previews, and never the API key."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from skytells_lab.api import ChatCompletion, Model, Prediction, PredictionPage, Response
from skytells_lab.api import errors as E
from skytells_lab.notebook import display

SECRET = "sk-display-secret-0123456789"


def _png_uri(color=(200, 30, 30), size=(40, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class _Key:
    def get(self):
        return SECRET


class _FakeClient:
    _api_key = _Key()

    def _images(self, prediction):
        return [Image.new("RGB", (64, 64), "navy") for _ in prediction.outputs]


PREDICTION = {
    "id": "a1b2c3", "status": "succeeded", "model": {"name": "digits-diffusion", "type": "image"},
    "input": {"prompt": "a 7", "image": _png_uri(), "strength": 0.6},
    "output": ["http://127.0.0.1:1/v1/files/a1b2c3/out-0.png"],
    "created_at": "2026-03-04T21:20:58.000000Z", "started_at": "2026-03-04T21:20:58+00:00",
    "completed_at": "2026-03-04T21:21:08+00:00",
    "metrics": {"predict_time": 10.5, "total_time": 10.6}, "metadata": {"billing": {"credits_used": 0.02}},
}


def test_prediction_card_fields_media_and_masked_key():
    p = Prediction.model_validate({**PREDICTION, "error": f"upstream said key={SECRET}"})
    p._client = _FakeClient()
    html = display.prediction_html(p)
    for text in ("a1b2c3", "succeeded", "digits-diffusion", "10.50 s", "0.02", "a 7", "strength", "2026-03-04"):
        assert text in html
    assert html.count("<img") == 2  # the media input thumbnail + the fetched output
    assert "data:image/png;base64," in html
    assert SECRET not in html and "***" in html


def test_prediction_card_players_for_audio_and_video_and_running_progress():
    p = Prediction.model_validate({"id": "x", "status": "processing", "metrics": {"progress": 40},
                                   "output": ["https://cdn.example/a.mp3", "https://cdn.example/v.mp4"]})
    html = display.prediction_html(p)
    assert "<audio controls" in html and "<video controls" in html and "40%" in html


def test_model_card_lists_pricing_capabilities_and_schema():
    m = Model.model_validate({
        "name": "Digits", "namespace": "digits-diffusion", "type": "image", "status": "operational",
        "pricing": {"amount": 0.002, "currency": "USD", "unit": "image"},
        "capabilities": ["text-to-image", "image-to-image"],
        "input_schema": {"required": ["prompt"], "properties": {
            "prompt": {"type": "string", "x-order": 0, "description": "a digit"},
            "image": {"type": "string", "format": "uri", "x-order": 1},
            "strength": {"type": "number", "default": 0.6, "x-order": 2}}}})
    html = display.model_html(m)
    for text in ("digits-diffusion", "0.002 USD / image", "image-to-image", "operational", "<b>prompt</b>",
                 "string (uri)", "0.6"):
        assert text in html


def test_chat_and_response_cards_show_text_usage_and_safety():
    safe = {"filtered": False, "severity": "safe"}
    chat = ChatCompletion.model_validate({
        "id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "<b>hello</b>"},
            "content_filter_results": {"hate": safe, "violence": {"filtered": True, "severity": "high"}}}],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "jailbreak": {"filtered": False, "detected": False}}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
    html = display.chat_html(chat)
    assert "&lt;b&gt;hello&lt;/b&gt;" in html and "<b>hello</b>" not in html
    assert "finish: stop" in html and "5 in, 2 out, 7 total" in html
    assert "violence: high" in html and "jailbreak: no" in html
    resp = Response.model_validate({
        "id": "resp_1", "status": "completed", "model": "m",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hey"}]}],
        "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        "content_filters": [{"blocked": False, "source_type": "prompt", "content_filter_results": {"hate": safe}}]})
    html = display.response_html(resp)
    assert "hey" in html and "completed" in html and "prompt safety" in html and "3 in, 1 out" in html


def test_page_and_error_cards():
    page = PredictionPage(data=[PREDICTION, {**PREDICTION, "id": "zz9", "status": "failed"}], current_page=1,
                          per_page=2, total=5, last_page=3)
    html = display.page_html(page)
    assert "page 1/3" in html and "zz9" in html and "5 in all" in html and "failed" in html
    err = E.RateLimitError("slow down", error_id="RATE_LIMIT_EXCEEDED", http_status=429, retry_after=12,
                           details={"scope": "requests"}, request_id="req_1")
    html = display.error_html(err)
    for text in ("RateLimitError", "RATE_LIMIT_EXCEEDED", "429", "slow down", "12.00 s", "req_1", "scope"):
        assert text in html


def test_show_images_grid_from_every_kind(tmp_path):
    path = tmp_path / "p.png"
    Image.new("L", (10, 10), 128).save(path)
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), "red").save(buf, format="PNG")
    p = Prediction.model_validate(PREDICTION)
    p._client = _FakeClient()
    items = [Image.new("RGB", (20, 10), "blue"), np.zeros((8, 8), np.uint8), np.ones((4, 4, 3)), path,
             buf.getvalue(), "https://cdn.example/x.png", p]
    grid = display.show_images(items, columns=3)
    html = grid._repr_html_()
    assert len(grid) == 7 and html.count("<img") == 7 and "repeat(3," in html
    assert "20×10" in html and "p.png" in html
    grid = display.show_images([np.zeros((8, 8), np.uint8)] * 2, captions=["one", "two"])
    assert "one" in grid._repr_html_() and "two" in grid._repr_html_()
    with pytest.raises(ValueError):
        display.show_images([np.zeros((8, 8), np.uint8)], captions=["a", "b"])


def test_thumbnail_of_media_input_is_downscaled():
    big = _png_uri(size=(600, 400))
    html = display.thumbnail_html(big)
    src = html.split('src="', 1)[1].split('"', 1)[0]
    thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert max(thumb.size) <= display.THUMB_PX and "600×400" in html
