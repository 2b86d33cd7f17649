"""predictions.create/run refuse an inference-only model before sending; run(wait="auto") awaits image models."""

from __future__ import annotations

import pytest
from conftest import FAST, KEY

from skytells_lab.api import AsyncSkytells, InvalidInputError, PredictionStatus, Skytells

DIGITS, CHAT, EMBED = "digits-diffusion", "smollm2-135m-instruct", "all-minilm-l6-v2"


@pytest.fixture
def local(local_server):
    with Skytells(base_url=local_server.url) as c:
        c.cache.disable()
        kinds: list[str] = []
        c.add_observer(lambda record: kinds.append(record.kind))
        c.kinds = kinds
        yield c


def test_a_chat_model_is_refused_before_sending_naming_the_right_call(local):
    with pytest.raises(InvalidInputError, match=r"client\.chat\.completions\.create.*nothing was sent") as info:
        local.predictions.create(CHAT, {"prompt": "hi"})
    assert info.value.error_id == "SDK_ERROR"
    with pytest.raises(InvalidInputError, match=r"client\.embeddings\.create"):
        local.run(EMBED, {"input": "hi"})
    assert "predictions.create" not in local.kinds
    assert local.kinds.count("models.get") == 2
    with pytest.raises(InvalidInputError):  # the entry is cached: no second lookup
        local.predictions.create(CHAT, {"prompt": "hi"})
    assert local.kinds.count("models.get") == 2
    local.purge_catalog_cache(CHAT)
    with pytest.raises(InvalidInputError):
        local.predictions.create(CHAT, {"prompt": "hi"})
    assert local.kinds.count("models.get") == 3


def test_the_check_can_be_skipped_and_the_server_answers_for_itself(local):
    with pytest.raises(InvalidInputError) as info:
        local.predictions.create(CHAT, {"prompt": "hi"}, compatibility_check=False)
    assert info.value.error_id != "SDK_ERROR" and "models.get" not in local.kinds


def test_an_image_model_passes_and_its_entry_is_read_once(local):
    first = local.predictions.create(DIGITS, {"prompt": "1", "num_inference_steps": 2})
    local.predictions.create(DIGITS, {"prompt": "2", "num_inference_steps": 2})
    assert local.kinds.count("models.get") == 1 and local.kinds.count("predictions.create") == 2
    first.wait(timeout=60)


def test_run_wait_auto_awaits_an_image_model_in_one_round_trip(local):
    p = local.run(DIGITS, {"prompt": "3", "num_inference_steps": 2}, wait="auto", timeout=60)
    assert p.status == PredictionStatus.SUCCEEDED and p.outputs
    assert local.kinds.count("predictions.create") == 1 and "predictions.get" not in local.kinds
    polled = local.run(DIGITS, {"prompt": "4", "num_inference_steps": 2}, wait="poll", timeout=60)
    assert polled.succeeded and "predictions.get" in local.kinds
    with pytest.raises(ValueError, match="wait must be one of 'poll', 'await', 'auto'"):
        local.run(DIGITS, {"prompt": "4"}, wait="sometimes")


def test_await_that_comes_back_unfinished_is_polled_on(faults, service):
    # the fake service ignores "await" (as the service does for video models): run polls on
    with Skytells(KEY, faults.url, local=False, **FAST) as c:
        c.cache.disable()
        p = c.run("truefusion", {"prompt": "cat"}, wait="auto", poll_interval=0.01)
        created = [r for r in faults.requests if r.method == "POST"][-1].json()
        assert created["await"] is True and p.succeeded
        c.run("truefusion", {"prompt": "cat"}, poll_interval=0.01)
        assert "await" not in [r for r in faults.requests if r.method == "POST"][-1].json()
        assert faults.count("GET", "/v1/models/truefusion") == 1


async def test_the_async_twin_checks_and_awaits_too(local_server):
    async with AsyncSkytells(base_url=local_server.url) as c:
        with pytest.raises(InvalidInputError, match="chat.completions"):
            await c.predictions.create(CHAT, {"prompt": "hi"})
        p = await c.run(DIGITS, {"prompt": "5", "num_inference_steps": 2}, wait="auto", timeout=60)
        assert p.succeeded
