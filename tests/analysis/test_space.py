import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, load_space


def test_vectors_are_one_float32_c_contiguous_matrix_and_data_aligns(rng):
    vectors = np.asfortranarray(rng.standard_normal((10, 4)))
    space = EmbeddingSpace(vectors)
    assert space.vectors.dtype == np.float32 and space.vectors.flags.c_contiguous
    assert len(space) == 10 and space.shape == (10, 4) and list(space.data.index) == list(range(10))
    with pytest.raises(ValueError, match="3 rows but there are 10"):
        EmbeddingSpace(vectors, pd.DataFrame({"a": [1, 2, 3]}))
    with pytest.raises(ValueError, match="2-D"):
        EmbeddingSpace(np.ones(3))


def test_normalized_copy_is_made_once(rng):
    raw = rng.standard_normal((20, 5)).astype(np.float32)
    space = EmbeddingSpace(raw)
    unit = space.normalized
    assert unit is space.normalized and unit is not space.vectors
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(space.vectors, raw)  # the caller's vectors are left alone


def test_unit_vectors_are_shared_and_copy_false_normalizes_in_place(rng):
    raw = rng.standard_normal((20, 5)).astype(np.float32)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    shared = EmbeddingSpace(unit)
    assert shared.normalized is shared.vectors and np.shares_memory(shared.vectors, unit)
    lengths = np.linalg.norm(raw, axis=1)
    in_place = EmbeddingSpace(raw, copy=False)
    assert in_place.normalized is in_place.vectors and np.shares_memory(in_place.vectors, raw)
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(in_place.norms, lengths, rtol=1e-6)


def test_zero_vectors_stay_zero():
    space = EmbeddingSpace(np.array([[0, 0], [3, 4]], np.float32))
    np.testing.assert_allclose(space.normalized, [[0, 0], [0.6, 0.8]])


def test_from_texts_keeps_the_series_index_and_name(fake_client):
    frame = pd.DataFrame({"headline": ["cats nap", "bank stocks", "cats purr"], "topic": list("aba")},
                         index=[10, 20, 30])
    space = EmbeddingSpace.from_texts(frame["headline"], client=fake_client, data=frame, batch_size=2)
    assert fake_client.embed_calls[0] == {"texts": ["cats nap", "bank stocks", "cats purr"],
                                          "model": "fake-embed", "batch_size": 2}
    assert list(space.data.index) == [10, 20, 30] and space.text_column == "headline"
    assert list(space.data.columns) == ["headline", "topic"] and space.model == "fake-embed"
    plain = EmbeddingSpace.from_texts(["x y", "y z"], client=fake_client, model="other")
    assert list(plain.data.columns) == ["text"] and plain.model == "other"


def test_repr_and_html_card(rng):
    space = EmbeddingSpace(rng.standard_normal((2225, 8)).astype(np.float32), model="all-minilm-l6-v2")
    assert repr(space) == "EmbeddingSpace(2,225 × 8, model=all-minilm-l6-v2)"
    html = space._repr_html_()
    assert "EmbeddingSpace" in html and "2,225" in html and "all-minilm-l6-v2" in html


def test_save_and_load_round_trip(tmp_path, blobs):
    vectors, labels = blobs
    space = EmbeddingSpace(vectors, pd.DataFrame({"text": [f"t{i}" for i in labels]}), model="m")
    space.cluster("kmeans", 4)
    space.cluster_names_ = {0: "zero", 1: "one"}
    space.save(tmp_path / "space")
    for mmap in (False, True):
        loaded = load_space(tmp_path / "space", mmap=mmap)
        np.testing.assert_array_equal(loaded.vectors, space.vectors)
        pd.testing.assert_frame_equal(loaded.data, space.data)
        assert loaded.model == "m" and loaded.cluster_names_ == {0: "zero", 1: "one"}
        assert loaded.search(vectors[:1], 3).index.tolist() == space.search(vectors[:1], 3).index.tolist()
    assert EmbeddingSpace.load(tmp_path / "space").text_column == "text"


def test_knn_accuracy_matches_a_leave_one_out_reference(rng):
    vectors = rng.standard_normal((120, 6)).astype(np.float32)
    labels = (vectors[:, 0] > 0).astype(int) + (vectors[:, 1] > 0)
    from sklearn.neighbors import NearestNeighbors

    _, found = NearestNeighbors(n_neighbors=6, metric="cosine").fit(vectors).kneighbors(vectors)
    votes = labels[found[:, 1:]]
    majority = np.array([np.bincount(v, minlength=3) for v in votes])
    clear = (np.sort(majority, axis=1)[:, -1] > np.sort(majority, axis=1)[:, -2])  # rows without a tie
    space = EmbeddingSpace(vectors)
    accuracy = space.knn_accuracy(labels, k=5)
    reference = np.mean(majority.argmax(axis=1)[clear] == labels[clear])
    assert abs(accuracy - reference) <= (~clear).mean() + 1e-9
    assert EmbeddingSpace(np.repeat(np.eye(3, dtype=np.float32), 10, axis=0) + 0.01).knn_accuracy(
        np.repeat([0, 1, 2], 10), k=5) == 1.0


def test_explore_hands_the_space_to_the_widget(monkeypatch, rng):
    seen = {}

    class EmbeddingExplorer:
        def __init__(self, space, **kw):
            seen.update(space=space, kw=kw)

    module = types.ModuleType("skytells_lab.widgets.explorer")
    module.EmbeddingExplorer = EmbeddingExplorer
    monkeypatch.setitem(sys.modules, "skytells_lab.widgets.explorer", module)
    space = EmbeddingSpace(rng.standard_normal((4, 2)))
    assert isinstance(space.explore(color="cluster"), EmbeddingExplorer)
    assert seen == {"space": space, "kw": {"color": "cluster"}}


def test_importing_the_package_loads_no_heavy_library():
    code = ("import sys, skytells_lab.analysis; "
            "print(sorted(m for m in ('sklearn', 'matplotlib', 'faiss', 'umap', 'torch') "
            "if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
