import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, knn_graph, near_duplicates
from skytells_lab.analysis import neighbors as neighbors_module
from skytells_lab.analysis.search import unit_rows


def test_knn_graph_matches_sklearn_nearest_neighbors(rng, monkeypatch):
    from sklearn.neighbors import NearestNeighbors

    vectors = rng.standard_normal((400, 12)).astype(np.float32)
    monkeypatch.setattr(neighbors_module, "KNN_QUERY_ROWS", 64)  # several query blocks
    graph = EmbeddingSpace(vectors).neighbors(k=6)
    distances, want = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(vectors) \
        .kneighbors(vectors)
    np.testing.assert_array_equal(graph.indices, want[:, 1:])
    np.testing.assert_allclose(graph.scores, 1 - distances[:, 1:], atol=1e-5)


def test_knn_graph_of_some_rows_and_its_frame_and_sparse_forms(rng):
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    data = pd.DataFrame(index=[f"r{i}" for i in range(50)])
    space = EmbeddingSpace(vectors, data)
    full = space.neighbors(3)
    part = space.neighbors(3, rows=[4, 9])
    np.testing.assert_array_equal(part.indices, full.indices[[4, 9]])
    frame = part.frame()
    assert list(frame.columns) == ["source", "target", "rank", "score"]
    assert frame["source"].tolist() == ["r4"] * 3 + ["r9"] * 3
    assert frame["target"].tolist()[:3] == [f"r{i}" for i in full.indices[4]]
    sparse = full.to_sparse()
    assert sparse.shape == (50, 50) and sparse.nnz == 150
    assert sparse[4, full.indices[4, 0]] == pytest.approx(full.scores[4, 0])
    assert "KNNGraph(50 items, k=3" in repr(full)


def test_k_must_leave_room_for_the_item_itself(rng):
    with pytest.raises(ValueError, match="k must be"):
        knn_graph(unit_rows(rng.standard_normal((5, 3)).astype(np.float32)), 5)


def test_duplicates_match_the_full_similarity_matrix(rng, monkeypatch):
    base = rng.standard_normal((120, 10)).astype(np.float32)
    noisy = base[:15] + rng.standard_normal((15, 10)).astype(np.float32) * 0.02
    vectors = np.vstack([base, noisy, base[:3]])
    monkeypatch.setattr(neighbors_module, "DUPLICATE_TILE", 32)  # many tiles, diagonal ones included
    unit = unit_rows(vectors)
    i, j, scores = near_duplicates(unit, 0.98)
    full = unit @ unit.T
    want_i, want_j = np.nonzero(np.triu(full >= 0.98, k=1))
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(
        zip(want_i.tolist(), want_j.tolist(), strict=True))
    assert np.all(i < j) and np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(scores, full[i, j], rtol=1e-6)


def test_space_duplicates_frame_names_the_rows_and_texts(rng):
    vectors = rng.standard_normal((6, 4)).astype(np.float32)
    vectors[5] = vectors[1]
    data = pd.DataFrame({"text": list("abcdef")}, index=list("ABCDEF"))
    frame = EmbeddingSpace(vectors, data).duplicates(0.999)
    assert frame[["left", "right", "left_text", "right_text"]].values.tolist() == [["B", "F", "b", "f"]]
    assert frame["score"].iloc[0] == pytest.approx(1.0)


def test_to_frame_still_works_and_says_it_is_now_frame(rng):
    space = EmbeddingSpace(rng.standard_normal((20, 4)).astype(np.float32))
    graph = space.neighbors(2)
    with pytest.warns(DeprecationWarning, match=r"KNNGraph\.frame\(\)"):
        old = graph.to_frame()
    pd.testing.assert_frame_equal(old, graph.frame())
