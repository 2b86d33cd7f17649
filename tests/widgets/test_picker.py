"""ModelPicker against the local catalog: type filter, search, badges, observable value."""

from __future__ import annotations

import pytest
import traitlets

from skytells_lab import Skytells
from skytells_lab.widgets import ModelPicker


@pytest.fixture(scope="module")
def picker_models(client):
    return list(client.models.list())


def test_lists_the_catalog_and_filters_by_type(client):
    picker = ModelPicker(client)
    assert {"digits-diffusion", "smollm2-135m-instruct", "all-minilm-l6-v2"} <= set(picker.matches)
    picker.type_filter.value = "image"
    assert picker.matches == ["digits-diffusion"]
    assert picker.value == "digits-diffusion" and picker.model.type == "image"
    assert ModelPicker(client, type="text").type_filter.value == "text"
    assert "digits-diffusion" not in ModelPicker(client, type="text").matches


def test_search_narrows_and_value_is_observable(client):
    picker = ModelPicker(client, value="digits-diffusion")
    seen = []
    picker.observe(lambda change: seen.append(change["new"]), names="value")
    picker.search.value = "minilm"
    assert picker.matches == ["all-minilm-l6-v2"] and picker.value == "all-minilm-l6-v2"
    picker.search.value = "no such model at all"
    assert picker.matches == [] and picker.value is None
    assert "no model matches" in picker.badges.value
    picker.search.value = ""
    picker.list.value = "smollm2-135m-instruct"  # what a click in the list does
    assert picker.value == "smollm2-135m-instruct"
    assert seen == ["all-minilm-l6-v2", None, "all-minilm-l6-v2", "smollm2-135m-instruct"]


def test_setting_value_from_code_clears_hiding_filters(client):
    picker = ModelPicker(client, type="text")
    picker.value = "digits-diffusion"
    assert picker.list.value == "digits-diffusion" and picker.type_filter.value == ""
    with pytest.raises(traitlets.TraitError):
        picker.value = "not-in-catalog"


def test_badges_show_type_price_and_where(client):
    picker = ModelPicker(client, value="digits-diffusion")
    badges = picker.badges.value
    assert "sl-badge-type" in badges and ">image<" in badges
    assert "sl-badge-where" in badges and ">local<" in badges
    assert "sl-badge-price" in badges and ("free" in badges or "/" in badges)


def test_unreachable_backend_shows_an_error_card():
    with Skytells(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2) as dead:
        picker = ModelPicker(dead)
    assert picker.models == [] and picker.value is None
    assert "sl-error-card" in picker.error.value


def test_static_fallback(client):
    bundle = ModelPicker(client, value="digits-diffusion")._repr_mimebundle_()
    assert "digits-diffusion" in bundle["text/html"] and "sl-static" in bundle["text/html"]
