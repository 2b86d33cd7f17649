import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, faiss_topk, numpy_topk
from skytells_lab.analysis import search as search_module
from skytells_lab.analysis.search import faiss_index, unit_rows


def brute_force(vectors, queries, k):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = q @ unit.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.fixture
def space_and_vectors(rng):
    vectors = rng.standard_normal((300, 24)).astype(np.float32)
    data = pd.DataFrame({"text": [f"item {i}" for i in range(300)]}, index=[f"id{i}" for i in range(300)])
    return EmbeddingSpace(vectors, data, model="m"), vectors


def test_search_matches_brute_force_for_one_vector_and_a_batch(space_and_vectors, rng):
    space, vectors = space_and_vectors
    queries = rng.standard_normal((7, 24)).astype(np.float32)
    want_scores, want_index = brute_force(vectors, queries, 10)
    frame = space.search(queries, k=10)
    assert list(frame.columns[:3]) == ["query", "rank", "score"] and "text" in frame.columns
    assert len(frame) == 70
    assert list(frame.index[:10]) == [f"id{i}" for i in want_index[0]]
    np.testing.assert_allclose(frame["score"].to_numpy().reshape(7, 10), want_scores, rtol=1e-5, atol=1e-6)
    assert frame["query"].tolist() == list(np.repeat(np.arange(7), 10))
    assert frame["rank"].tolist() == list(np.tile(np.arange(1, 11), 7))
    one = space.search(queries[0], k=5)
    assert list(one.index) == [f"id{i}" for i in want_index[0, :5]]


def test_blocked_search_equals_one_block(rng):
    vectors = unit_rows(rng.standard_normal((1000, 16)).astype(np.float32))
    queries = unit_rows(rng.standard_normal((5, 16)).astype(np.float32))
    whole = numpy_topk(vectors, queries, 12)
    blocked = numpy_topk(vectors, queries, 12, block_rows=64)  # 16 blocks, thresholds tightening
    assert search_module.scan_rows(5, 12) >= 2048
    np.testing.assert_array_equal(whole[1], blocked[1])
    np.testing.assert_allclose(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], brute_force(vectors, queries, 12)[1])


def test_exclude_drops_each_querys_own_row(rng):
    vectors = unit_rows(rng.standard_normal((50, 8)).astype(np.float32))
    rows = np.arange(10)
    _, found = numpy_topk(vectors, vectors[rows], 3, exclude=rows)
    assert not np.any(found == rows[:, None])


def test_ties_break_by_lower_row_like_a_stable_argsort():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32)
    _, found = numpy_topk(vectors, vectors[:1], 3)
    assert found.tolist() == [[0, 2, 3]]


def test_faiss_path_gives_the_numpy_results(space_and_vectors, rng):
    pytest.importorskip("faiss")
    space, _ = space_and_vectors
    queries = rng.standard_normal((9, 24)).astype(np.float32)
    numpy_frame = space.search(queries, k=10, backend="numpy")
    faiss_frame = space.search(queries, k=10, backend="faiss")
    assert list(numpy_frame.index) == list(faiss_frame.index)
    np.testing.assert_allclose(numpy_frame["score"], faiss_frame["score"], rtol=1e-5, atol=1e-6)
    unit = space.normalized
    q = unit_rows(queries)
    np.testing.assert_array_equal(faiss_topk(faiss_index(unit), q, 10)[1], numpy_topk(unit, q, 10)[1])


def test_text_queries_go_through_the_client(fake_client):
    texts = ["the cat sat", "dogs bark loudly", "stock markets fell", "the cat purrs"]
    space = EmbeddingSpace.from_texts(texts, client=fake_client)
    frame = space.search(["cat"], k=2)
    assert frame["query"].tolist() == ["cat", "cat"]
    assert set(frame["text"]) == {"the cat sat", "the cat purrs"}
    assert fake_client.embed_calls[-1] == {"texts": ["cat"], "model": "fake-embed", "batch_size": 256}
    assert space.search("stock", k=1)["text"].tolist() == ["stock markets fell"]


def test_text_query_without_a_client_explains(space_and_vectors):
    space, _ = space_and_vectors
    with pytest.raises(ValueError, match="client"):
        space.search("hello")


def test_query_dimension_is_checked(space_and_vectors):
    space, _ = space_and_vectors
    with pytest.raises(ValueError, match="24 dimensions"):
        space.search(np.ones(5, np.float32))


@pytest.mark.parametrize("nq", [1, 3, 100])
def test_threshold_scan_is_identical_to_a_stable_argsort(rng, nq):
    # dyadic components: every dot product is exact whatever order a BLAS kernel sums in, so copies of a row
    # tie exactly wherever they sit in a block (with random floats some CPUs' kernels differ in the last bit)
    vectors = (rng.integers(-8, 9, (5000, 32)) / 16).astype(np.float32)
    vectors[4000:4100] = vectors[10]  # exact ties across blocks: the lower row must win
    queries = np.vstack([vectors[10:11], (rng.integers(-8, 9, (nq - 1, 32)) / 16).astype(np.float32)])
    exact = queries.astype(np.float64) @ vectors.T.astype(np.float64)  # numpy_topk takes rows as given
    want = np.argsort(-exact, axis=1, kind="stable")[:, :25]
    want_scores = np.take_along_axis(exact, want, axis=1)
    for block_rows, threads in ((None, None), (64, 1), (64, 2), (997, 3)):
        scores, found = numpy_topk(vectors, queries, 25, block_rows=block_rows, threads=threads)
        np.testing.assert_array_equal(found, want)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)


def test_all_equal_scores_keep_the_lowest_rows():
    vectors = np.ones((3000, 4), np.float32) / 2
    _, found = numpy_topk(vectors, vectors[:2], 5, block_rows=100)
    assert found.tolist() == [[0, 1, 2, 3, 4]] * 2
