"""Every endpoint of the client over real HTTP against the embedded local server (real open models on CPU).

A small image runner that draws with Pillow stands in next to the built-in models, so the prediction
paths (create, wait, run, images, list, iter, cancel, delete) do not depend on trained weights; the
built-in ``digits-diffusion`` has its own test.
"""

from __future__ import annotations

import asyncio
import io
import json
import time

import numpy as np
import pytest
from support.faults import Fault, FaultServer

from skytells_lab.api import (
    AsyncSkytells,
    AuthenticationError,
    ChatCompletion,
    InvalidInputError,
    NetworkError,
    NotFoundError,
    PredictionFailed,
    PredictionStatus,
    Response,
    Skytells,
    StreamInterrupted,
    WaitTimeout,
    parse_webhook,
    verify_webhook,
)
from skytells_lab.local.runners.base import Cancelled, OutputFile, PredictionRunner

KEY = "sk-local-test-key-0123456789"
EMBED, CHAT, DIGITS = "all-minilm-l6-v2", "smollm2-135m-instruct", "digits-diffusion"
PROMPT = [{"role": "user", "content": "Say hi."}]


class SquareRunner(PredictionRunner):
    """Draws ``num_outputs`` squares of a colour; ``steps`` > 0 makes it slow and cancellable; "fail" fails."""

    slug, type, capabilities = "test-squares", "image", ["text-to-image"]

    def _load(self) -> None:
        pass

    def input_schema(self) -> dict:
        return {"type": "object", "title": "Input", "required": ["prompt"], "properties": {
            "prompt": {"type": "string", "x-order": 0},
            "num_outputs": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1, "x-order": 1},
            "steps": {"type": "integer", "minimum": 0, "maximum": 400, "default": 0, "x-order": 2}}}

    def predict(self, input: dict, ctx) -> list[OutputFile]:
        from PIL import Image

        if input["prompt"] == "fail":
            raise RuntimeError("Failed to generate image.")
        for step in range(input["steps"]):
            ctx.check()
            ctx.progress(step / max(1, input["steps"]))
            time.sleep(0.01)
        files = []
        for i in range(input["num_outputs"]):
            buf = io.BytesIO()
            Image.new("RGB", (6 + i, 5), "blue").save(buf, format="PNG")
            files.append(OutputFile(buf.getvalue(), "image/png", f"out-{i}.png"))
        return files


assert Cancelled  # the runner relies on ctx.check() raising it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from skytells_lab.local import start_server
    from skytells_lab.local.runners import default_runners

    runners = [*default_runners("cpu"), SquareRunner(device="cpu")]
    srv = start_server(data_dir=tmp_path_factory.mktemp("api-local"), api_key=KEY, device="cpu", runners=runners)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def local(server):
    with Skytells(KEY, server.url, timeout=300, backoff_base=0.05) as client:
        yield client


def test_status_and_catalog(local):
    status = local.status()
    assert status.reachable and status.local and status.device == "cpu" and status.version
    assert local.is_local
    slugs = [m.slug for m in local.models.list()]
    assert {EMBED, CHAT, DIGITS, "test-squares"} <= set(slugs)
    assert local.default_embedding_model == EMBED and local.default_chat_model == CHAT
    assert local.default_image_model == DIGITS
    assert all(m.type == "image" for m in local.models.list(type="image"))
    model = local.models.get("test-squares", fields=["input_schema", "output_schema"])
    assert model.input_schema["required"] == ["prompt"] and model.capabilities == ["text-to-image"]
    assert local.models.get(DIGITS).pricing.unit
    with pytest.raises(NotFoundError):
        local.models.get("no-such-model")


def test_auth_is_required(server):
    with Skytells("sk-wrong", server.url) as bad, pytest.raises(AuthenticationError) as info:
        bad.models.list()
    assert info.value.http_status == 401 and "sk-wrong" not in str(info.value)
    with Skytells(None, server.url) as none, pytest.raises(AuthenticationError):
        none.predictions.list()


def test_run_and_images(local):
    p = local.run("test-squares", {"prompt": "a square", "num_outputs": 2}, timeout=120, poll_interval=0.05)
    assert p.status == PredictionStatus.SUCCEEDED and len(p.outputs) == 2
    assert p.created_at.tzinfo is not None and p.completed_at >= p.created_at.replace(microsecond=0)
    assert p.metrics.predict_time is not None and p.raw["id"] == p.id
    images = p.images()
    assert [im.size for im in images] == [(6, 5), (7, 5)]
    assert local.predictions.get(p.id).outputs == p.outputs


def test_create_wait_list_iter_delete(local):
    created = [local.predictions.create("test-squares", {"prompt": f"p{i}"}) for i in range(3)]
    assert all(p.id and p.model == "test-squares" for p in created)
    done = [p.wait(timeout=120, poll_interval=0.05) for p in created]
    assert all(p.status == PredictionStatus.SUCCEEDED for p in done)
    page = local.predictions.list(per_page=2, model="test-squares")
    assert len(page) == 2 and page.has_next and page.total >= 3
    ids = [p.id for p in local.predictions.iter(per_page=2, model="test-squares")]
    assert {p.id for p in created} <= set(ids) and len(ids) == len(set(ids))
    assert local.predictions.list(status="succeeded", per_page=50).total >= 3
    local.predictions.delete(created[0].id)
    with pytest.raises(Exception):  # noqa: B017 - the service answers 404 or 502 for an unknown id
        local.predictions.get(created[0].id)


def test_await_create(local):
    p = local.predictions.create("test-squares", {"prompt": "now"}, await_=True)
    assert p.status == PredictionStatus.SUCCEEDED and p.outputs


def test_cancel_and_wait_timeout(local):
    p = local.predictions.create("test-squares", {"prompt": "slow", "steps": 400})
    with pytest.raises(WaitTimeout) as info:
        local.predictions.wait(p.id, timeout=0.2, poll_interval=0.05)
    assert info.value.prediction_id == p.id
    cancelled = local.predictions.cancel(p.id)
    final = local.predictions.wait(cancelled, timeout=60, poll_interval=0.05)
    assert final.status == PredictionStatus.CANCELLED and final.is_terminal


def test_failed_prediction_raises_with_the_prediction(local):
    with pytest.raises(PredictionFailed) as info:
        local.run("test-squares", {"prompt": "fail"}, timeout=60, poll_interval=0.05)
    assert info.value.prediction.status == PredictionStatus.FAILED
    assert "Failed to generate image." in info.value.prediction.error


def test_invalid_input(local):
    with pytest.raises(InvalidInputError) as info:
        local.predictions.create("test-squares", {"num_outputs": 2})
    assert info.value.http_status in (400, 422) and info.value.error_id


def test_digits_diffusion(local):
    p = local.run(DIGITS, {"prompt": "7", "num_inference_steps": 2, "width": 32, "height": 32}, timeout=300,
                  poll_interval=0.1)
    assert p.images()[0].size == (32, 32)


def test_chat(local):
    c = local.chat.completions.create(model=CHAT, messages=PROMPT, max_tokens=6, seed=1)
    assert isinstance(c, ChatCompletion) and c.choices[0].finish_reason in ("stop", "length")
    assert c.usage.completion_tokens and c.choices[0].message.role == "assistant"
    stream = local.chat.completions.create(model=CHAT, messages=PROMPT, max_tokens=6, seed=1, stream=True)
    chunks = list(stream)
    final = stream.final()
    assert chunks and final.text == stream.text
    assert final.choices[0].finish_reason in ("stop", "length")


def test_responses(local):
    r = local.responses.create(model=CHAT, input="Say hi.", max_output_tokens=6)
    assert isinstance(r, Response) and r.status in ("completed", "incomplete")  # incomplete: hit the token cap
    stream = local.responses.create(model=CHAT, input="Say hi.", max_output_tokens=6, stream=True)
    types = [e.type for e in stream]
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete")
    assert stream.final().output_text == stream.text


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(local, encoding):
    result = local.embeddings.create(model=EMBED, input=["a cat", "a dog"], encoding_format=encoding)
    assert result.vectors.shape == (2, 384) and result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1, atol=1e-4)


def test_embed_batches_match_one_call(local):
    texts = [f"sentence {i}" for i in range(40)]
    whole = local.embeddings.create(model=EMBED, input=texts).vectors
    batched = local.embed(texts, batch_size=7, concurrency=3, progress=False)
    np.testing.assert_allclose(batched, whole, atol=1e-5)


def test_embed_from_a_running_loop(server):
    async def cell():
        with Skytells(KEY, server.url) as client:
            return client.embed(["x", "y", "z"], batch_size=2, progress=False)

    assert asyncio.run(cell()).shape == (3, 384)


def test_async_twin(server):
    async def main():
        async with AsyncSkytells(KEY, server.url, timeout=300) as c:
            status = await c.status()
            models = await c.models.list()
            p = await c.run("test-squares", {"prompt": "x"}, timeout=120, poll_interval=0.05)
            images = await p.images()
            page = await c.predictions.list(per_page=1)
            first = [x.id async for x in c.predictions.iter(per_page=50)]
            await c.predictions.delete(p.id)
            stream = await c.chat.completions.create(model=CHAT, messages=PROMPT, max_tokens=4, stream=True)
            text = "".join([chunk.text async for chunk in stream])
            events = await c.responses.create(model=CHAT, input="hi", max_output_tokens=4, stream=True)
            kinds = [e.type async for e in events]
            vectors = await c.embed(["a", "b", "c"], batch_size=2)
            return status, models, p, images, page, first, text, kinds, vectors

    status, models, p, images, page, first, text, kinds, vectors = asyncio.run(main())
    assert status.reachable and len(models) >= 4 and p.succeeded and images[0].size == (6, 5)
    assert page.total >= 1 and p.id in first and isinstance(text, str)
    assert kinds[-1] in ("response.completed", "response.incomplete") and vectors.shape == (3, 384)


def test_webhook_from_the_local_server(server, local):
    """The server signs its webhooks; verify_webhook and parse_webhook accept what it sends."""
    received = []
    with FaultServer(prefix="") as receiver:
        from support.faults import Reply

        def hook(req):
            received.append(req)
            return Reply.json({"ok": True})

        receiver.route("POST", "/hook", hook)
        p = local.predictions.create("test-squares", {"prompt": "hook"},
                                     webhook={"url": receiver.origin + "/hook",
                                              "events": ["prediction.succeeded", "completed"]})
        p.wait(timeout=60, poll_interval=0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                json.loads(r.body).get("type", json.loads(r.body).get("status", "")).endswith("succeeded")
                for r in received):
            time.sleep(0.05)
    assert received, "the local server sent no webhook"
    last = received[-1]
    headers = {k.lower(): v for k, v in last.headers.items()}
    assert verify_webhook(last.body, headers.get("x-skytells-signature"), server.webhook_secret)
    event = parse_webhook(last.body)
    assert event.prediction.id == p.id


def test_through_a_fault_proxy(server):
    """The fault server in proxy mode in front of the local server: faults retried, creation never doubled."""
    with FaultServer(upstream=server.url) as proxy, Skytells(KEY, proxy.url, backoff_base=0.01) as c:
        proxy.script("GET", "/v1/models", Fault.rate_limited("0"), Fault.status(503))
        assert len(c.models.list()) >= 4
        assert proxy.count("GET", "/v1/models") == 3
        before = c.predictions.list(per_page=1).total
        proxy.script("POST", "/v1/predictions", Fault.drop_after_handling())
        with pytest.raises(NetworkError) as info:
            c.predictions.create("test-squares", {"prompt": "once"})
        assert info.value.details["may_have_been_created"] is True
        assert proxy.count("POST", "/v1/predictions") == 1
        assert c.predictions.list(per_page=1).total == before + 1
        proxy.script("POST", "/v1/chat/completions", Fault.truncate(120))
        stream = c.chat.completions.create(model=CHAT, messages=PROMPT, max_tokens=12, stream=True)
        with pytest.raises(StreamInterrupted):
            for _ in stream:
                pass

