"""The client's types render and tabulate themselves: cards and records without the notebook layer (a
lower floor never imports a higher one), ``.frame()`` with pandas only, provenance in ``df.attrs``."""

from __future__ import annotations

import json
import subprocess
import sys

PREDICTION = {
    "id": "p1", "status": "succeeded", "model": {"name": "digits-diffusion", "type": "image"},
    "input": {"prompt": "a 7", "image": "data:image/png;base64,iVBORw0KGgo="},
    "output": ["http://127.0.0.1:1/v1/files/p1/out-0.png"], "metrics": {"predict_time": 1.5},
}
CHAT = {"id": "c1", "model": "m", "created": 1, "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}

SCRIPT = f"""
import json, sys
from skytells_lab.api import ChatCompletion, Model, Prediction, PredictionPage, errors
p = Prediction.model_validate({PREDICTION!r})
page = PredictionPage(data=[{PREDICTION!r}], current_page=1, per_page=1)
chat = ChatCompletion.model_validate({CHAT!r})
model = Model.model_validate({{"slug": "digits", "type": "image", "pricing": {{"amount": 0.1, "unit": "image"}}}})
cards = [x._repr_html_() for x in (p, page, chat, model, errors.NotFoundError("gone", http_status=404))]
records = [p.to_records(), page.to_records(), chat.to_records(), model.to_records()]
frame = chat.frame()
print(json.dumps({{
    "cards": [c[:40] for c in cards], "record": records[0][0]["media_inputs"], "chat": records[2][0]["text"],
    "model": records[3][0]["price"], "frame": [list(frame.columns)[:3], frame.attrs["skytells"]["what"]],
    "loaded": sorted(m for m in sys.modules if m.split(".")[:2] in (["skytells_lab", "notebook"],
                     ["skytells_lab", "analysis"], ["skytells_lab", "widgets"], ["skytells_lab", "comparison"])),
}}))
"""


def test_cards_records_and_frames_come_from_the_client_alone():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["loaded"] == []  # no notebook, analysis, widgets or comparison module was imported
    assert all(c.startswith('<div class="') for c in result["cards"])
    assert result["record"] == [PREDICTION["input"]["image"]] and result["chat"] == "hi"
    assert result["model"] == 0.1
    assert result["frame"] == [["id", "model", "created"], "chat"]
