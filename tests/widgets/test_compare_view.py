"""CompareView over a real comparison of the local image, chat and embedding models."""

from __future__ import annotations

import pytest

from skytells_lab.comparison import compare
from skytells_lab.widgets import CompareView


@pytest.fixture(scope="module")
def comparison(client, chat_ready):
    return compare(["digits-diffusion", "smollm2-135m-instruct", "all-minilm-l6-v2"], ["3", "seven"],
                   client=client, max_tokens=8, num_inference_steps=3, width=32, height=32, progress=False)


def test_grid_shows_each_model_for_the_chosen_input(comparison):
    view = CompareView(comparison)
    html = view.content.value
    assert "sl-compare-grid" in html and "sl-output-image" in html and "sl-output-text" in html
    assert "384-d vector" in html
    assert set(view.frame["model"]) == {"digits-diffusion", "smollm2-135m-instruct", "all-minilm-l6-v2"}
    view.item.value = view.item.options[1][1]
    assert set(view.frame["input"]) == {"seven"}


def test_model_filter_table_and_summary_modes(comparison):
    view = CompareView(comparison)
    view.models.value = ("digits-diffusion",)
    assert "smollm2" not in view.content.value
    view.mode.value = "table"
    assert "sl-compare-table" in view.content.value and len(view.frame) == 2
    view.sort.value = "latency"
    assert view.frame["latency"].is_monotonic_increasing
    view.mode.value = "summary"
    assert "sl-compare-summary" in view.content.value and "digits-diffusion" in view.content.value


def test_tables_in_the_widget_are_light(comparison):
    """Inside a widget the notebook's table style does not apply: no browser-default grid (border="1")."""
    import re

    view = CompareView(comparison)
    for mode in ("table", "summary"):
        view.mode.value = mode
        table = view.content.value
        assert 'border="1"' not in table
        assert re.search(r'<table style="[^"]*border-collapse:collapse', table)
        cells = re.findall(r"<t[dh]( style=\"[^\"]*\")?>", table)
        assert cells and all("border:none" in style for style in cells), mode


def test_static_fallback(comparison):
    bundle = CompareView(comparison)._repr_mimebundle_()
    assert "sl-static" in bundle["text/html"] and "Comparison" in bundle["text/html"]
