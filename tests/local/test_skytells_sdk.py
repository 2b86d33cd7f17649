"""The official `skytells` SDK from PyPI, unchanged, against the local server."""

from __future__ import annotations

import pytest
import skytells
from skytells.types.shared import SkytellsError

FAST = {"prompt": "9", "num_inference_steps": 4, "seed": 2}


@pytest.fixture(scope="module")
def sdk(server):
    return skytells.Skytells("sk-any", base_url=server.url)


def test_models_list_and_get(sdk):
    slugs = {m["namespace"] for m in sdk.models.list()}
    assert {"digits-diffusion", "all-minilm-l6-v2", "smollm2-135m-instruct"} <= slugs
    model = sdk.models.get("digits-diffusion", fields=["input_schema"])
    assert model["type"] == "image" and "prompt" in model["input_schema"]["properties"]
    with pytest.raises(SkytellsError) as err:
        sdk.models.get("nope")
    assert err.value.error_id == "MODEL_NOT_FOUND"


def test_run_create_get_list_cancel_delete(sdk):
    done = sdk.run("digits-diffusion", input=FAST)
    assert done.status == "succeeded" and done.outputs().startswith("http")
    created = sdk.predictions.create({"model": "digits-diffusion", "input": {**FAST, "num_inference_steps": 200}})
    assert created["status"] in ("pending", "starting", "processing")
    assert sdk.predictions.get(created["id"])["id"] == created["id"]
    cancelled = sdk.cancel_prediction(created["id"])
    assert cancelled["status"] == "cancelled"
    page = sdk.predictions.list(model="digits-diffusion")
    assert {done.id, created["id"]} <= {p["id"] for p in page.data} and page.pagination.total >= 2
    done.delete()
    other = sdk.run("digits-diffusion", input=FAST)
    assert sdk.delete_prediction(other.id)["success"] is True
    with pytest.raises(SkytellsError) as err:
        sdk.predictions.get(done.id)
    assert err.value.http_status == 502
