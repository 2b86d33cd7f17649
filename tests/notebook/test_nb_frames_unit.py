"""Frames built from wire dicts (no server): chat/responses safety columns, embeddings as one matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skytells_lab.api import ChatCompletion, Prediction, Response
from skytells_lab.notebook import frames
from skytells_lab.notebook import vectors as V

SAFE = {"filtered": False, "severity": "safe"}


def test_chat_frame_one_row_per_choice_with_flat_safety():
    body = {
        "id": "c1", "model": "m", "created": 1773759323,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a"},
             "content_filter_results": {"hate": SAFE, "violence": {"filtered": True, "severity": "medium"}}},
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "b"},
             "content_filter_results": {"hate": SAFE, "violence": SAFE}}],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "jailbreak": {"filtered": False, "detected": False}}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}
    df = frames.chat_frame([ChatCompletion.model_validate(body), ChatCompletion.model_validate({**body, "id": "c2"})])
    assert len(df) == 4 and list(df["choice"]) == [0, 1, 0, 1]
    assert list(df["finish_reason"].astype(str)[:2]) == ["stop", "length"]
    assert df["safety.violence.severity"].iloc[0] == "medium"
    assert bool(df["safety.violence.filtered"].iloc[0]) and not bool(df["safety.violence.filtered"].iloc[1])
    assert list(df["safety.flagged"][:2]) == [True, False]
    assert df["prompt_safety.jailbreak.detected"].dtype == "boolean"
    assert str(df["prompt_tokens"].dtype) == "Int64" and df["total_tokens"].iloc[0] == 13
    assert str(df["created"].dtype).startswith("datetime64") and df["created"].dt.tz is not None
    assert df.attrs["skytells"]["what"] == "chat"


def test_responses_frame_one_row_per_output_item():
    r = Response.model_validate({
        "id": "resp_1", "status": "completed", "model": "m", "created_at": 1773759323,
        "output": [{"id": "msg_1", "type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "he"}, {"type": "output_text", "text": "llo"}]},
                   {"id": "rs_1", "type": "reasoning", "content": []}],
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        "content_filters": [
            {"blocked": False, "source_type": "prompt", "content_filter_results": {"hate": SAFE}},
            {"blocked": True, "source_type": "completion", "content_filter_results": {
                "sexual": {"filtered": True, "severity": "high"}}}]})
    df = frames.responses_frame(r)
    assert list(df["output_index"]) == [0, 1] and df["text"].iloc[0] == "hello"
    assert list(df["type"].astype(str)) == ["message", "reasoning"]
    assert bool(df["safety.blocked"].iloc[0]) and not bool(df["prompt_safety.blocked"].iloc[0])
    assert df["safety.sexual.severity"].iloc[0] == "high" and df["input_tokens"].iloc[1] == 3


def test_embeddings_frame_keeps_one_matrix_that_follows_filtering(tmp_path):
    texts = ["a", "b", "c", "d"]
    matrix = np.arange(16, dtype=np.float32).reshape(4, 4)
    df = frames.embeddings_frame(texts, matrix, model="m", index=list("wxyz"))
    assert df["text_vec"].dtype == np.int32 and df.attrs["skytells"]["dimensions"] == 4
    assert df.skytells.vectors() is df.attrs["skytells_vectors"]["text"].matrix  # no copy for the full frame
    sub = df[df["text"] != "b"].sort_values("text", ascending=False)
    np.testing.assert_array_equal(sub.skytells.vectors(), matrix[[3, 2, 0]])
    assert sub.attrs["skytells_vectors"]["text"].matrix is df.attrs["skytells_vectors"]["text"].matrix
    assert not df.skytells.vectors().flags.writeable

    path = df.skytells.to_parquet(tmp_path / "e.parquet")
    import pyarrow.parquet as pq

    field_type = pq.read_schema(path).field("text_embedding").type
    assert field_type.list_size == 4 and str(field_type.value_type) == "float"
    back = V.read_parquet(path)
    assert list(back.index) == list("wxyz")
    np.testing.assert_array_equal(back.skytells.vectors("text"), matrix)
    assert back.attrs["skytells_vectors"]["text"].model == "m"
    np.testing.assert_array_equal(np.load(sub.skytells.save_npy(tmp_path / "e.npy")), matrix[[3, 2, 0]])


def test_embeddings_frame_from_response_and_errors():
    from skytells_lab.api import EmbeddingResponse

    resp = EmbeddingResponse.from_wire({"model": "m", "data": [{"index": 0, "embedding": [1.0, 0.0]},
                                                               {"index": 1, "embedding": [0.0, 1.0]}]})
    df = frames.embeddings_frame(["x", "y"], resp)
    assert df.attrs["skytells"]["model"] == "m" and df.skytells.vectors().shape == (2, 2)
    with pytest.raises(ValueError):
        frames.embeddings_frame(["x"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no vectors"):
        pd.DataFrame({"a": [1]}).skytells.vectors()


def test_prediction_frame_dtypes_and_media_previews():
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (30, 30), "green").save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    preds = [Prediction.model_validate({
        "id": f"p{i}", "status": "succeeded" if i else "failed", "model": {"name": "digits-diffusion", "type": "image"},
        "input": {"prompt": str(i), "image": uri}, "output": [f"http://h/v1/files/p{i}/out-0.png"],
        "created_at": "2026-03-04T21:20:58Z", "metrics": {"predict_time": 0.5}, "credits_used": "0.01"})
        for i in range(3)]
    df = frames._typed_prediction_frame(frames.prediction_rows(preds))
    assert list(df.columns) == frames.PREDICTION_COLUMNS
    assert isinstance(df, frames.PredictionFrame) and isinstance(df.head(2), frames.PredictionFrame)
    assert str(df["created_at"].dtype).startswith("datetime64") and str(df["created_at"].dt.tz) == "UTC"
    assert df["predict_time"].dtype == "float64" and df["credits_used"].dtype == "float64"
    assert df["status"].dtype == "category" and df["model"].dtype == "category"
    assert df["media_inputs"].iloc[0] == [uri]  # plain URIs in the data
    html = df._repr_html_()
    assert html.count("<img") == 6 and uri not in html  # previews are downscaled copies, outputs are <img src=URL>
