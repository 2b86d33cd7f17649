"""The notebook layer against the embedded local server: frames, cards, ledger, budget, accessor, media."""

from __future__ import annotations

import base64
import http.server
import io
import threading

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skytells_lab.api import BudgetExceeded, InvalidInputError, Skytells
from skytells_lab.api import _media as M

pytest.importorskip("skytells_lab.notebook")  # importing it registers df.skytells

DIGITS = "digits-diffusion"
FAST = {"num_inference_steps": 4, "width": 32, "height": 32}


def _predictions_on(server) -> int:
    return server.state.store.list(limit=1)[1]


class _CountingTransport(httpx.HTTPTransport):
    def __init__(self):
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request):
        self.requests.append((request.method, request.url.path))
        return super().handle_request(request)


@pytest.fixture(scope="module")
def made(client):
    return [client.run(DIGITS, {"prompt": str(i), **FAST}) for i in range(3)]


# --------------------------------------------------------------------------- frames


def test_predictions_frame_across_pages(client, made):
    df = client.predictions.frame(model=DIGITS, per_page=2)
    ids = set(df["id"])
    assert {p.id for p in made} <= ids and len(df) == len(ids)
    assert list(df.columns[:12]) == ["id", "model", "type", "status", "created_at", "started_at", "completed_at",
                                     "predict_time", "total_time", "credits_used", "output", "outputs"]
    for col in ("created_at", "started_at", "completed_at"):
        assert str(df[col].dtype).startswith("datetime64") and str(df[col].dt.tz) == "UTC"
    for col in ("predict_time", "total_time", "credits_used"):
        assert df[col].dtype == "float64"
    for col in ("status", "model", "type"):
        assert df[col].dtype == "category"
    row = df.set_index("id").loc[made[0].id]
    fresh = client.predictions.get(made[0].id)
    assert row["status"] == "succeeded" and row["model"] == DIGITS and row["type"] == "image"
    assert row["predict_time"] == pytest.approx(fresh.metrics.predict_time)
    assert row["credits_used"] == pytest.approx(fresh.credits_used) and row["credits_used"] > 0
    assert row["output"] == fresh.outputs[0] and row["prompt"] == "0"
    assert row["created_at"].floor("s") <= row["started_at"] <= row["completed_at"]
    prov = df.attrs["skytells"]
    assert prov["local"] is True and prov["device"] == "cpu" and prov["model"] == DIGITS
    assert prov["backend"] in client.base_url


def test_models_frame(client):
    df = client.models.frame()
    assert {"all-minilm-l6-v2", "smollm2-135m-instruct", DIGITS} <= set(df["slug"])
    digits = df.set_index("slug").loc[DIGITS]
    assert digits["type"] == "image" and digits["price"] == pytest.approx(0.002) and digits["unit"] == "image"
    assert "image-to-image" in digits["capabilities"] and df["price"].dtype == "float64"
    assert set(client.models.frame(type="text")["type"]) == {"text"}


# --------------------------------------------------------------------------- cards and the key


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    from skytells_lab.local import start_server

    key = "sk-nb-card-test-" + "q" * 24
    server = start_server(data_dir=tmp_path_factory.mktemp("keyed"), api_key=key, device="cpu")
    with Skytells(api_key=key, base_url=server.url) as client:
        yield client, key
    server.stop()


def test_cards_show_fields_and_never_the_key(keyed):
    client, key = keyed
    picture = Image.new("L", (16, 16), 0)
    p = client.run(DIGITS, {"prompt": "4", "image": picture, "strength": 0.7, **FAST})
    html = p._repr_html_()
    assert p.id in html and "succeeded" in html and DIGITS in html and "predict time" in html
    assert html.count("<img") >= 2 and "data:image/png;base64," in html  # input thumbnail + fetched output
    model = client.models.get(DIGITS, fields=["input_schema"])
    page = client.predictions.list(per_page=5)
    try:
        client.predictions.get("no-such-prediction")
    except Exception as exc:  # noqa: BLE001 - whichever error the server gives, its card is checked
        error = exc
    with Skytells(api_key=key + "-wrong", base_url=client.base_url) as other, pytest.raises(Exception) as auth:
        other.models.list()
    cards = [html, model._repr_html_(), page._repr_html_(), error._repr_html_(), auth.value._repr_html_(),
             client.ledger._repr_html_()]
    assert "0.002 USD / image" in cards[1] and p.id in cards[2]
    assert "UNAUTHORIZED" in cards[4] or "401" in cards[4]
    for card in cards:
        assert key not in card
    assert key not in repr(client) and key not in repr(p)


def test_chat_and_embedding_results_as_frames(client):
    chat = client.chat.completions.create(messages=[{"role": "user", "content": "Say hi"}], max_tokens=4,
                                          temperature=0)
    df = chat.frame()
    assert len(df) == 1 and df["completion_tokens"].iloc[0] == chat.usage.completion_tokens
    assert df["finish_reason"].iloc[0] in ("stop", "length") and "safety.hate.severity" in df.columns
    assert "smollm2" in chat._repr_html_()
    resp = client.responses.create(input="Say hi", max_output_tokens=4)
    rdf = resp.frame()
    assert rdf["text"].iloc[0] == resp.output_text and rdf["output_tokens"].iloc[0] == resp.usage.output_tokens


# --------------------------------------------------------------------------- ledger, budget, cache


def test_ledger_records_every_call(client, made):
    ledger = client.ledger
    before = len(ledger)
    p = client.run(DIGITS, {"prompt": "6", **FAST})
    client.predictions.get(p.id)  # fetched again: its credits are not counted twice
    df = ledger.frame().iloc[before:]
    assert {"predictions.create", "predictions.get"} <= set(df["kind"].astype(str))
    mine = df[df["prediction_id"] == p.id]
    assert mine["credits_used"].sum() == pytest.approx(p.credits_used)
    assert mine["predict_time"].max() == pytest.approx(p.metrics.predict_time)
    summary = ledger.summary()
    assert summary.loc[DIGITS, "calls"] >= 2 and summary.loc[DIGITS, "credits_used"] > 0


def test_budget_stops_the_call_that_would_cross_it(local_server):
    transport = _CountingTransport()
    with Skytells(base_url=local_server.url, transport=transport) as client:
        with client.budget(credits=0.005) as budget:  # 0.002 per image: two fit, the third would cross
            client.run(DIGITS, {"prompt": "1", **FAST})
            client.run(DIGITS, {"prompt": "2", **FAST})
            on_server = _predictions_on(local_server)
            sent = len(transport.requests)
            with pytest.raises(BudgetExceeded, match="not sent"):
                client.run(DIGITS, {"prompt": "3", **FAST})
            assert _predictions_on(local_server) == on_server and len(transport.requests) == sent
            assert budget.spent == pytest.approx(0.004) and budget.refused == 1
            with pytest.raises(BudgetExceeded):
                client.predictions.create(DIGITS, {"prompt": "3", "num_outputs": 1})
        client.run(DIGITS, {"prompt": "3", **FAST})  # the block ended the budget
        assert _predictions_on(local_server) == on_server + 1


def test_seeded_predictions_and_embeddings_are_cached(client, local_server):
    client.cache.clear()
    first = client.run(DIGITS, {"prompt": "8", "seed": 11, **FAST})
    count = _predictions_on(local_server)
    again = client.run(DIGITS, {"prompt": "8", "seed": 11, **FAST})
    assert again.id == first.id and _predictions_on(local_server) == count
    client.cache.disable()
    try:
        fresh = client.run(DIGITS, {"prompt": "8", "seed": 11, **FAST})
    finally:
        client.cache.enable()
    assert fresh.id != first.id and _predictions_on(local_server) == count + 1

    calls = len(client.ledger)
    a = client.embed(["cached text one", "cached text two"])
    b = client.embed(["cached text two", "cached text one", "a new text"])
    embed_calls = client.ledger.frame().iloc[calls:]
    assert (embed_calls["kind"] == "embeddings").sum() == 2  # the second call only sent the new text
    np.testing.assert_array_equal(a[[1, 0]], b[:2])
    assert b.dtype == np.float32 and b.shape == (3, 384)


# --------------------------------------------------------------------------- the accessor


def test_accessor_run_keeps_index_records_errors_and_resumes(client, local_server):
    df = pd.DataFrame({"prompt": ["one", "2", "no digit in it", "nine"]}, index=pd.Index([10, 20, 30, 40], name="k"))
    out = df.skytells.run(DIGITS, input_column="prompt", client=client, **FAST,
                               progress=False)
    assert list(out.index) == [10, 20, 30, 40] and out.index.name == "k" and list(out["prompt"]) == list(df["prompt"])
    assert list(out["status"]) == ["succeeded", "succeeded", "failed", "succeeded"]
    assert pd.isna(out.loc[10, "error"]) and out.loc[30, "error"]
    assert out.loc[20, "output"].endswith(".png") and out["predict_time"].dtype == "float64"
    assert out.attrs["skytells"]["model"] == DIGITS and out.attrs["skytells"]["failed"] == 1

    count = _predictions_on(local_server)
    resumed = out.skytells.run(DIGITS, input_column="prompt", client=client, **FAST,
                               progress=False)
    assert resumed.attrs["skytells"]["sent"] == 1, resumed.attrs
    assert _predictions_on(local_server) == count + 1, (count, resumed[["status", "prediction_id"]])
    assert list(resumed["prediction_id"][[10, 20, 40]]) == list(out["prediction_id"][[10, 20, 40]])
    rerun = df.skytells.run(DIGITS, input_column="prompt", client=client, **FAST,
                               progress=False)  # from scratch: the cache
    assert _predictions_on(local_server) == count + 2
    assert list(rerun["prediction_id"][[10, 20, 40]]) == list(out["prediction_id"][[10, 20, 40]])


def test_accessor_embed_and_chat(client):
    df = pd.DataFrame({"text": ["alpha", "beta", None, "alpha"]}, index=list("abcd"))
    out = df.skytells.embed("text", client=client, progress=False)
    vectors = out.skytells.vectors()
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert np.isnan(vectors[2]).all() and list(out.index) == list("abcd")
    np.testing.assert_allclose(vectors[1], client.embed(["beta"])[0], rtol=1e-6)

    questions = pd.DataFrame({"q": ["Say yes.", ""]}, index=["x", "y"])
    answered = questions.skytells.chat("q", client=client, system="Be brief.", max_tokens=3, temperature=0,
                                       progress=False)
    assert list(answered.index) == ["x", "y"] and answered.loc["x", "reply"]
    assert answered.loc["y", "chat_error"] == "empty message"
    assert str(answered["completion_tokens"].dtype) == "Int64"


# --------------------------------------------------------------------------- media inputs


class _FileServer:
    def __init__(self, data: bytes, mime: str):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", mime)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/start.png"

    def close(self):
        self.server.shutdown()


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_every_media_kind_round_trips(client, tmp_path):
    picture = Image.new("RGB", (24, 24), (10, 200, 30))
    path = tmp_path / "start.png"
    picture.save(path)
    files = _FileServer(path.read_bytes(), "image/png")
    try:
        kinds = {"pil": picture, "uint8": np.full((12, 12), 77, np.uint8), "float": np.full((8, 8, 3), 0.25),
                 "path": path, "path string": str(path), "bytes": path.read_bytes(), "url": files.url}
        for name, value in kinds.items():
            sent = M.to_data_uri(value)
            p = client.run(DIGITS, {"prompt": "3", "image": value, "strength": 0.5, **FAST})
            assert p.input["image"] == sent, name  # the bytes stored are the bytes sent
            if name in ("path", "path string", "bytes"):
                assert base64.b64decode(sent.split(",", 1)[1]) == path.read_bytes()
    finally:
        files.close()


def test_image_to_image_depends_on_strength(client):
    start = Image.new("L", (32, 32), 0)
    outs = {s: client.run(DIGITS, {"prompt": "1", "image": start, "strength": s, "seed": 5, **FAST}).images()[0]
            for s in (0.25, 1.0)}
    a, b = (np.asarray(outs[s].convert("L"), dtype=float) for s in (0.25, 1.0))
    assert np.abs(a - b).mean() > 1.0


def test_media_errors(client, local_server):
    count = _predictions_on(local_server)
    noise = np.random.default_rng(0).integers(0, 255, (1900, 1900, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match="larger than"):
        client.predictions.create(DIGITS, {"prompt": "1", "image": noise})
    with pytest.raises(InvalidInputError):  # not an image: refused by the server's MIME check
        client.predictions.create(DIGITS, {"prompt": "1", "image": b"%PDF-1.4 not a picture"})
    assert _predictions_on(local_server) == count


def test_prediction_frame_previews_media_inputs(client):
    picture = Image.new("L", (40, 40), 255)
    p = client.run(DIGITS, {"prompt": "2", "image": picture, "strength": 0.9, **FAST})
    df = client.predictions.frame(model=DIGITS, limit=30)
    row = df[df["id"] == p.id]
    assert row["media_inputs"].iloc[0] == [p.input["image"]]
    html = row._repr_html_()
    assert html.count("<img") >= 2 and p.input["image"] not in html  # a thumbnail, not the full upload


# --------------------------------------------------------------------------- webhooks


def test_webhook_inbox_collects_verified_events(client):
    import skytells_lab as sl

    with sl.WebhookInbox(client=client) as inbox:
        assert inbox.verifies
        p = client.predictions.create(DIGITS, {"prompt": "5", **FAST}, webhook=inbox.webhook())
        events = inbox.wait_for(prediction_id=p.id, type="prediction.succeeded", timeout=60)
        assert events[0].verified and events[0].event.prediction.id == p.id
        frame = inbox.frame()
        assert "prediction.succeeded" in set(frame["type"].astype(str)) and frame["verified"].all()
        assert httpx.post(inbox.url, content=b'{"id": "x", "status": "succeeded"}',
                          headers={"X-Skytells-Signature": "00" * 32}).status_code == 401
        assert inbox.rejected == 1 and "WebhookInbox" in inbox._repr_html_()
