"""EmbeddingExplorer on a small space embedded by the local model: hover, search, groups, box, rows."""

from __future__ import annotations

import re

import pytest

from skytells_lab.analysis import EmbeddingSpace
from skytells_lab.widgets import EmbeddingExplorer

TEXTS = {
    "animals": ["a dog barks at the mailman", "the cat sleeps on the sofa", "a horse gallops in the field",
                "puppies play in the garden", "the parrot repeats every word", "a kitten chases a mouse"],
    "finance": ["stocks fell sharply on Monday", "the central bank raised interest rates",
                "investors sold their bonds", "the market rallied after earnings", "inflation hit a new high",
                "the company reported record profits"],
    "sport": ["the striker scored twice in the final", "the tennis match went to five sets",
              "the team won the championship", "the marathon runner broke the record",
              "the goalkeeper saved a penalty", "the coach was sacked after the defeat"],
}


@pytest.fixture(scope="module")
def space(client):
    import pandas as pd

    rows = [(text, topic) for topic, texts in TEXTS.items() for text in texts]
    data = pd.DataFrame(rows, columns=["text", "topic"], index=[f"doc{i}" for i in range(len(rows))])
    return EmbeddingSpace.from_texts(data["text"], client=client, data=data, progress=False)


def test_explore_returns_an_explorer_with_hover_text(space):
    explorer = space.explore(hue="topic")
    assert isinstance(explorer, EmbeddingExplorer)
    svg = explorer.plot.value
    assert svg.count("<circle") == len(space) and svg.count("<title>") == len(space)
    assert "a dog barks at the mailman" in svg and "topic=animals" in svg
    assert explorer.selection == [] and explorer.selected.empty
    assert {"x", "y"} <= set(space.data.columns)  # projected on demand


def test_search_highlights_neighbours_and_selection_returns_rows(space):
    explorer = EmbeddingExplorer(space, hue="topic", k=4)
    explorer.search.value = "my puppy and my kitten"  # what typing + Enter does: runs in the background
    explorer.wait(60)
    assert len(explorer.selection) == 4
    assert len(re.findall(r'class="sl-highlight"', explorer.plot.value)) == 4
    selected = explorer.selected
    assert list(selected.columns[:3]) == ["score", "text", "topic"]
    assert (selected["topic"] == "animals").sum() >= 3
    assert selected["score"].is_monotonic_decreasing and selected.index[0].startswith("doc")
    assert "4 selected" in explorer.info.value


def test_group_and_box_selection(space):
    explorer = EmbeddingExplorer(space, hue="topic")
    explorer.groups.value = ("finance",)
    assert set(explorer.selected["topic"]) == {"finance"} and len(explorer.selection) == 6
    assert "score" not in explorer.selected.columns
    x = space.data["x"]
    explorer.x_range.value = (float(x.min()), float(x.median()))
    assert explorer.groups.value == ()  # one selection at a time
    picked = explorer.selected
    assert 0 < len(picked) < len(space) and (picked["x"] <= x.median() + 1e-6).all()
    explorer.clear_button.click()
    assert explorer.selection == []


def test_search_failure_shows_a_card(space):
    bare = EmbeddingSpace(space.vectors, data=space.data.copy())  # no client: text queries cannot be embedded
    explorer = EmbeddingExplorer(bare)
    explorer.search_button.click()  # empty query: nothing happens
    explorer.search.value = "anything"
    explorer.wait(30)
    assert "sl-error-card" in explorer.info.value and explorer.selection == []


def test_static_fallback_is_the_svg(space):
    explorer = EmbeddingExplorer(space, hue="topic")
    explorer.search_for("interest rates", k=3)
    bundle = explorer._repr_mimebundle_()
    assert "<svg" in bundle["text/html"] and "sl-highlight" in bundle["text/html"]
