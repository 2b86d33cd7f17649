"""EmbeddingExplorer's state, as the browser would see it: every point, selections both ways, search, clicks.

The front end's side is played through the widget protocol itself: `map.get_state()` + ipywidgets'
buffer split is what goes to the browser, `map.set_state(...)` with a binary array is what a lasso sends.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from ipywidgets.widgets.widget import _remove_buffers

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
    rows = [(text, topic) for topic, texts in TEXTS.items() for text in texts]
    data = pd.DataFrame(rows, columns=["text", "topic"], index=[f"doc{i}" for i in range(len(rows))])
    space = EmbeddingSpace.from_texts(data["text"], client=client, data=data, progress=False)
    space.cluster(n_clusters=3, random_state=0)
    space.cluster_names_ = {0: "first group", 1: "second group", 2: "third group"}
    return space


def browser_sends_selection(explorer, positions):
    """What a lasso in the page does: the front end sets the map's `selection` as a binary uint32 array."""
    array = np.asarray(positions, dtype=np.uint32)
    explorer.map.set_state({"selection": {"view": memoryview(array), "dtype": "uint32",
                                          "shape": list(array.shape)}})


def big_space(n: int, d: int = 4, seed: int = 0) -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                         "group": rng.integers(0, 12, n)})
    return EmbeddingSpace(rng.normal(size=(n, d)).astype(np.float32), data)


def test_every_point_goes_to_the_browser_as_one_binary_array():
    space = big_space(1_000_000)
    explorer = EmbeddingExplorer(space, hue="group")
    state, paths, buffers = _remove_buffers(explorer.map.get_state())
    assert ["points", "view"] in paths
    points = np.frombuffer(buffers[paths.index(["points", "view"])], dtype=np.float32).reshape(-1, 4)
    assert len(points) == len(space)  # every point, no sampling
    # jupyter-scatter sends coordinates normalized to [-1, 1], in row order: the same ranking as x and y
    x = space.data["x"].to_numpy()
    assert np.argmin(points[:, 0]) == np.argmin(x) and np.argmax(points[:, 0]) == np.argmax(x)
    assert np.corrcoef(points[:, 1], space.data["y"])[0, 1] > 0.9999
    assert sorted(np.unique(points[:, 2]).astype(int)) == list(range(12))  # the colour codes travel too
    assert "points" not in state or state["points"].get("view") is None


def test_map_colours_by_cluster_with_names_in_legend_labels_and_hover(space):
    explorer = space.explore()
    assert isinstance(explorer, EmbeddingExplorer)
    assert explorer.hue == "cluster" and explorer.map.color_by == "valueA" and explorer.map.legend
    names = ["0 \u00b7 first group", "1 \u00b7 second group", "2 \u00b7 third group"]
    assert [v[0] for v in explorer.scatter._encodings.visual["color"].legend["values"]] == names
    assert sorted(explorer.map.labels["label"]) == names  # the names drawn on the map, at the groups' centres
    assert "cluster" in space.data and space.data["cluster"].dtype.kind == "i"  # space.data is left as it was
    # hover: the front end asks the kernel for the row; the preview is the item's text
    sent = []
    explorer.map.send = sent.append
    explorer.map._handle_custom_msg({"type": "tooltip", "index": 3, "preview": explorer.map.tooltip_preview,
                                     "properties": list(explorer.map.tooltip_properties_non_visual_info)}, [])
    assert sent[0]["preview"] == space.data["text"].iloc[3] and sent[0]["properties"]["topic"] == "animals"
    explorer.colour.value = "topic"
    assert explorer.hue == "topic"
    assert [v[0] for v in explorer.scatter._encodings.visual["color"].legend["values"]] == list(TEXTS)


def test_lasso_in_the_browser_fills_selected_and_python_can_select(space):
    explorer = EmbeddingExplorer(space, hue="topic")
    seen = []
    explorer.observe(lambda change: seen.append(change["new"]), names="selected")
    browser_sends_selection(explorer, [2, 7, 11])
    assert explorer.selected.index.tolist() == ["doc2", "doc7", "doc11"]
    assert seen and seen[-1].index.tolist() == ["doc2", "doc7", "doc11"]
    assert "3 selected" in explorer.info.value
    explorer.select(space.data[space.data["topic"] == "finance"])
    assert sorted(explorer.map.selection.tolist()) == list(range(6, 12))
    assert set(explorer.selected["topic"]) == {"finance"}
    explorer.select(["doc0", "doc17"])
    assert explorer.map.selection.tolist() == [0, 17]
    explorer.select(positions=[5])
    assert explorer.map.selection.tolist() == [5] and len(explorer.selected) == 1  # from Python: no expansion
    explorer.select(None)
    assert explorer.map.selection.tolist() == [] and explorer.selected.empty
    with pytest.raises(KeyError, match="doc99"):
        explorer.select(["doc99"])


def test_search_lights_up_the_exact_neighbours_and_greys_the_rest(space):
    explorer = EmbeddingExplorer(space, hue="topic")
    assert explorer.k.value == 10  # the k box shows the real k
    explorer.k.value = 4
    explorer.search.value = "my puppy and my kitten"  # what typing + Enter does: runs in the background
    explorer.wait(60)
    expected = space.search("my puppy and my kitten", k=4)
    assert explorer.selected.index.tolist() == expected.index.tolist()
    assert explorer.map.selection.tolist() == space.data.index.get_indexer(expected.index).tolist()
    assert explorer.selected["score"].is_monotonic_decreasing
    assert (explorer.selected["topic"] == "animals").sum() >= 3
    assert explorer.map.opacity_unselected < 0.5  # the rest stays drawn, greyed
    explorer.clear_button.click()
    assert explorer.selection.size == 0 and explorer.map.selection.tolist() == []


def test_clicking_a_point_shows_its_neighbours(space):
    explorer = EmbeddingExplorer(space, k=3)
    browser_sends_selection(explorer, [13])
    graph = space.neighbors(3, rows=[13], progress=False)
    assert explorer.map.selection.tolist() == [13, *graph.indices[0].tolist()]
    assert explorer.selected["score"].iloc[0] == 1.0 and len(explorer.selected) == 4


def test_search_failure_shows_a_card(space):
    bare = EmbeddingSpace(space.vectors, data=space.data.copy())  # no client: text queries cannot be embedded
    explorer = EmbeddingExplorer(bare)
    explorer.search_button.click()  # empty query: nothing happens
    explorer.search.value = "anything"
    explorer.wait(30)
    assert "sl-error-card" in explorer.info.value and explorer.selection.size == 0


def test_bad_input_is_named():
    space = big_space(50)
    with pytest.raises(ValueError, match="hue='nope'"):
        EmbeddingExplorer(space, hue="nope")
    with pytest.raises(ValueError, match="k must be"):
        EmbeddingExplorer(space, k=0)
    with pytest.raises(ValueError, match="extra column 'm'"):
        EmbeddingExplorer(space, extra={"m": np.zeros(3)})


def test_static_picture_shows_every_point_and_the_selection():
    from PIL import Image

    space = big_space(200_000)
    explorer = EmbeddingExplorer(space, hue="group")
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', bundle["text/html"])[1])
    assert len(png) < 400_000  # 200,000 points, one small picture
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    drawn = (np.abs(image.astype(int) - 252).sum(axis=2) > 10).mean()
    assert 0.05 < drawn < 0.95  # a cloud of points, neither an empty box nor a filled one
    assert '<img class="sl-explorer-png"' in bundle["text/html"]
    explorer.select(positions=np.flatnonzero(space.data["x"].to_numpy() > 2))
    dark = (explorer.image().sum(axis=2) < 60)
    assert dark[:, -60:].any() and not dark[:, :200].any()  # the selection (x > 2) drawn dark, at the right


def test_the_points_cross_to_the_browser_once(monkeypatch):
    """Bytes on the wire: one comm_open carries the float32 points buffer; colouring and labelling happen
    before it, so nothing sends the points a second time."""
    import comm
    from ipywidgets.widgets import widget

    messages = []

    class RecordingComm(comm.base_comm.BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            messages.append((msg_type, sum(memoryview(b).nbytes for b in buffers or [])))

    monkeypatch.setattr(widget.comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    space = big_space(100_000)
    EmbeddingExplorer(space, hue="group")
    with_buffers = [m for m in messages if m[1] > 0]
    assert [kind for kind, _ in with_buffers] == ["comm_open"]
    assert 100_000 * 16 <= with_buffers[0][1] < 100_000 * 16 + 20_000  # the points; beside them the labels


def test_the_map_sends_a_small_loader_and_the_bundle_only_on_request():
    """anywidget sends `_esm` with every model: a map's is a loader of a few KB (the 2 MiB bundle comes from
    the server's route, or once from the kernel when the page asks for it, gzipped)."""
    import gzip

    from skytells_lab.widgets import map_bundle

    explorer = EmbeddingExplorer(big_space(1000), hue="group")
    assert len(explorer.map._esm) < 4000 and map_bundle.bundle_digest() in explorer.map._esm
    assert len(map_bundle.bundle_bytes()) > 1_000_000
    sent = []
    explorer.map.send = lambda content, buffers=None: sent.append((content, buffers))
    explorer.map._handle_msg({"content": {"data": {"method": "custom",
                                                   "content": {"type": map_bundle.MESSAGE}}}, "buffers": []})
    assert gzip.decompress(sent[0][1][0]) == map_bundle.bundle_bytes()
    explorer.map._handle_msg({"content": {"data": {"method": "custom", "content": {
        "type": "tooltip", "index": 3, "preview": None, "properties": ["group"]}}}, "buffers": []})
    assert sent[1][0]["type"] == "tooltip"  # hover still answered by jupyter-scatter
