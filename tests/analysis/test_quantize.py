"""int8 and binary precision: recall against the exact float32 search, exact scores, both kernels."""

import sys

import numpy as np
import pytest

from skytells_lab.analysis import EmbeddingSpace, numpy_topk
from skytells_lab.analysis.quantize import BinaryCodes, Int8Codes, rescore
from skytells_lab.analysis.search import unit_rows


def recall(found, truth):
    return float(np.mean([len(np.intersect1d(a, b)) / len(b) for a, b in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def clustered():
    """8,000 vectors around 40 centres in 64 dimensions, and 50 queries drawn the same way."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((40, 64)).astype(np.float32)
    vectors = unit_rows(centres[rng.integers(0, 40, 8000)] + 0.5 * rng.standard_normal((8000, 64)).astype(np.float32))
    queries = unit_rows(centres[rng.integers(0, 40, 50)] + 0.5 * rng.standard_normal((50, 64)).astype(np.float32))
    return vectors, queries


@pytest.mark.parametrize(("precision", "floor"), [("int8", 0.99), ("binary", 0.9)])
def test_quantized_search_recalls_the_exact_top_k_with_exact_scores(clustered, precision, floor):
    vectors, queries = clustered
    space = EmbeddingSpace(vectors)
    want = numpy_topk(vectors, queries, 10)[1]
    frame = space.search(queries, 10, precision=precision)
    found = frame.index.to_numpy().reshape(50, 10)
    assert recall(found, want) >= floor
    exact = np.einsum("qkd,qd->qk", vectors[found], queries)
    np.testing.assert_allclose(frame["score"].to_numpy().reshape(50, 10), exact, rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(frame["score"].to_numpy().reshape(50, 10), axis=1) <= 0)
    # rescoring every row gives the exact answer
    small = EmbeddingSpace(vectors[:600])
    everything = small.search(queries, 10, precision=precision, candidates=600)
    np.testing.assert_array_equal(everything.index.to_numpy().reshape(50, 10), numpy_topk(vectors[:600], queries, 10)[1])


def test_codes_are_a_quarter_and_a_thirty_second_of_the_vectors(clustered):
    vectors, _ = clustered
    space = EmbeddingSpace(vectors)
    assert space.codes("int8").codes.nbytes == vectors.nbytes // 4
    assert space.codes("binary").nbytes == vectors.nbytes // 32
    with pytest.raises(ValueError, match="precision"):
        space.search(vectors[0], precision="int4")
    with pytest.raises(ValueError, match="candidates"):
        space.search(vectors[0], 10, precision="int8", candidates=3)


@pytest.mark.parametrize("backend", ["numba", "faiss"])
def test_hamming_kernels_equal_numpy(clustered, backend):
    pytest.importorskip(backend)
    vectors, queries = clustered
    codes = BinaryCodes.encode(vectors)
    by_kernel = codes.candidates(queries, 40, backend=backend)
    by_numpy = codes.candidates(queries, 40, backend="numpy")
    unpacked = np.unpackbits(codes.codes, axis=1).astype(np.int32)
    distance = (np.unpackbits(BinaryCodes.pack(queries), axis=1).astype(np.int32)[:, None, :] != unpacked).sum(2)
    for q in range(len(queries)):  # the same distances (faiss may order ties differently)
        np.testing.assert_array_equal(np.sort(distance[q, by_kernel[q]]), np.sort(distance[q, by_numpy[q]]))
        assert distance[q, by_numpy[q]].max() <= np.sort(distance[q])[39]
    if backend == "numba":  # same selection order as numpy's: distance, then row
        np.testing.assert_array_equal(by_kernel, by_numpy)
        rows = np.arange(len(queries)) * 7
        excluded = codes.candidates(vectors[rows], 40, exclude=rows, backend=backend)
        np.testing.assert_array_equal(excluded, codes.candidates(vectors[rows], 40, exclude=rows, backend="numpy"))
        assert not (excluded == rows[:, None]).any()


def test_the_three_binary_scans_agree_with_numpy_on_a_bigger_space():
    """A one-block space counts (many candidates), streams (few), and beyond 16k rows streams from a
    sampled bound: all three give numpy's rows, excluded rows too."""
    pytest.importorskip("numba")
    from skytells_lab.analysis import quantize

    rng = np.random.default_rng(8)
    centres = rng.standard_normal((60, 64)).astype(np.float32)
    vectors = unit_rows(centres[rng.integers(0, 60, 40_000)] + 0.7 * rng.standard_normal((40_000, 64)).astype(np.float32))
    queries, rows = vectors[:30] + 0.1, np.arange(30) * 11
    for n, count in ((8_000, 200), (8_000, 20), (40_000, 20)):
        codes = BinaryCodes.encode(vectors[:n])
        assert (count * quantize.COUNTED_SHARE >= n) == (count == 200)
        assert (codes._seed(codes.pack(queries), count) is not None) == (n == 40_000)
        np.testing.assert_array_equal(codes.candidates(queries, count), codes.candidates(queries, count, backend="numpy"))
        np.testing.assert_array_equal(codes.candidates(vectors[rows], count, exclude=rows),
                                      codes.candidates(vectors[rows], count, exclude=rows, backend="numpy"))


def test_int8_without_torch_gives_the_same_candidates(clustered, monkeypatch):
    vectors, queries = clustered
    codes = Int8Codes.encode(vectors)
    with_torch = codes.candidates(queries, 30)
    monkeypatch.setitem(sys.modules, "torch", None)
    np.testing.assert_array_equal(codes.candidates(queries, 30), with_torch)


@pytest.mark.parametrize(("precision", "floor"), [("int8", 0.99), ("binary", 0.9)])
def test_quantized_neighbors_exclude_self_and_recall_the_exact_graph(clustered, precision, floor):
    vectors, _ = clustered
    space = EmbeddingSpace(vectors)
    rows = np.arange(0, 8000, 16)
    exact = space.neighbors(10, rows=rows)
    graph = space.neighbors(10, rows=rows, precision=precision)
    assert not np.any(graph.indices == rows[:, None])
    assert recall(graph.indices, exact.indices) >= floor


def test_rescore_orders_like_the_exact_search(clustered):
    vectors, queries = clustered
    candidates = np.tile(np.arange(0, 8000, 2), (len(queries), 1))
    scores, found = rescore(vectors, queries, candidates, 5)
    want_scores, want = numpy_topk(vectors[::2], queries, 5)
    np.testing.assert_array_equal(found, want * 2)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)


def test_a_longer_shortlist_ranked_by_the_asymmetric_score_recalls_more(clustered):
    pytest.importorskip("numba")
    vectors, queries = clustered
    codes = BinaryCodes.encode(vectors)
    truth = numpy_topk(vectors, queries, 10)[1]
    plain = codes.candidates(queries, 20)
    ranked = codes.candidates(queries, 20, shortlist=400)
    assert set(ranked.ravel()) <= set(codes.candidates(queries, 400).ravel())
    assert all(len(set(row)) == 20 for row in ranked)
    found = {name: recall(rescore(vectors, queries, rows, 10)[1], truth) for name, rows in
             (("plain", plain), ("ranked", ranked))}
    assert found["ranked"] >= found["plain"] + 0.05, found


def test_binary_defaults_scale_with_the_square_root_of_the_rows():
    from skytells_lab.analysis.quantize import candidate_count

    assert candidate_count("binary", 10, 1_000_000, None) == 1000
    assert candidate_count("binary", 10, 10_000_000, None) == 3163  # sqrt(10) more
    assert candidate_count("binary", 10, 100_000, None) == 317  # sqrt(10) fewer
    assert candidate_count("binary", 10, 37_410, None) == 200  # the floor, 20 k
    assert candidate_count("binary", 1, 37_410, None) == 100  # MIN_CANDIDATES
    assert candidate_count("binary", 10, 150, None) == 150  # at most n
    assert candidate_count("int8", 10, 10_000_000, None) == 100
    assert candidate_count("binary", 10, 10_000_000, 500) == 500  # as asked
