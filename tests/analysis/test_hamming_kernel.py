"""The compiled quantized-search kernels against plain numpy: the same rows in the same order."""

import numpy as np
import pytest

pytest.importorskip("numba")

from skytells_lab.analysis import kernels


def reference(codes: np.ndarray, qcodes: np.ndarray, count: int, exclude=None) -> np.ndarray:
    """Each query's `count` rows by Hamming distance, ties to the lower row (a stable argsort)."""
    distance = (np.unpackbits(qcodes, axis=1)[:, None, :] != np.unpackbits(codes, axis=1)[None]).sum(2)
    if exclude is not None:
        distance[np.arange(len(qcodes)), exclude] = 10**6
    return np.argsort(distance, axis=1, kind="stable")[:, :count]


def spans(codes: np.ndarray, size: int):
    return [(start, min(start + size, len(codes)), codes[start:start + size]) for start in range(0, len(codes), size)]


@pytest.mark.parametrize("nbytes", [2, 13, 48])  # heavy ties at 16 bits; 13 bytes pad to two words
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_hamming_nearest_equals_a_stable_numpy_sort(nbytes, threads):
    rng = np.random.default_rng(nbytes * 10 + threads)
    centre = rng.integers(0, 256, nbytes, dtype=np.uint8)
    flips = rng.random((3000, nbytes * 8)) < 0.2  # rows near one code, so the bounds tighten and ties abound
    codes = np.packbits(np.unpackbits(centre)[None] ^ flips, axis=1)
    qcodes = codes[rng.choice(len(codes), 9, replace=False)] ^ np.uint8(1)
    for count in (1, 37, 500):  # 500: the kept rows overflow and are compacted many times
        got = kernels.hamming_nearest(spans(codes, 257), qcodes, count, threads=threads)
        np.testing.assert_array_equal(got, reference(codes, qcodes, count))


def test_hamming_nearest_excludes_one_row_per_query_and_can_return_all_others():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (400, 6), dtype=np.uint8)
    exclude = np.array([0, 399, 17, 17])
    qcodes = codes[exclude]
    got = kernels.hamming_nearest(spans(codes, 100), qcodes, 399, exclude=exclude, threads=2)
    np.testing.assert_array_equal(got, reference(codes, qcodes, 399, exclude))
    assert not (got == exclude[:, None]).any()
    with pytest.raises(ValueError, match="count = 400 is more than the 399 rows"):
        kernels.hamming_nearest(spans(codes, 100), qcodes, 400, exclude=exclude)


def distances(codes: np.ndarray, qcodes: np.ndarray) -> np.ndarray:
    return (np.unpackbits(qcodes, axis=1)[:, None, :] != np.unpackbits(codes, axis=1)[None]).sum(2)


@pytest.mark.parametrize("nbytes", [2, 13, 48])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_seeded_scan_returns_the_same_rows_and_rescans_the_queries_it_shortchanged(nbytes, threads):
    rng = np.random.default_rng(nbytes + threads)
    centre = rng.integers(0, 256, nbytes, dtype=np.uint8)
    codes = np.packbits(np.unpackbits(centre)[None] ^ (rng.random((3000, nbytes * 8)) < 0.2), axis=1)
    qcodes = codes[rng.choice(len(codes), 8, replace=False)] ^ np.uint8(1)
    exclude = rng.integers(0, len(codes), 8)
    for count in (1, 37, 500):
        want = reference(codes, qcodes, count, exclude)
        exact = np.sort(distances(codes, qcodes), axis=1)[:, count + 1]  # a bound that holds for every query
        for seed in (exact, exact - 2, np.where(np.arange(8) % 2, exact, 0)):  # none, all, half too small
            got = kernels.hamming_nearest(spans(codes, 257), qcodes, count, exclude=exclude, threads=threads,
                                          seed=seed)
            np.testing.assert_array_equal(got, want)


def test_sample_bound_is_the_distance_of_the_rank_th_nearest_sample_row():
    rng = np.random.default_rng(6)
    sample = rng.integers(0, 256, (300, 13), dtype=np.uint8)
    qcodes = rng.integers(0, 256, (5, 13), dtype=np.uint8)
    for rank in (1, 17, 300, 301):
        want = np.sort(distances(sample, qcodes), axis=1)[:, min(rank, 300) - 1]
        np.testing.assert_array_equal(kernels.sample_bound(sample, qcodes, rank), want)


@pytest.mark.parametrize("nbytes", [2, 13, 48])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_hamming_counted_equals_a_stable_numpy_sort(nbytes, threads, monkeypatch):
    rng = np.random.default_rng(nbytes * 10 + threads)
    centre = rng.integers(0, 256, nbytes, dtype=np.uint8)
    codes = np.packbits(np.unpackbits(centre)[None] ^ (rng.random((3000, nbytes * 8)) < 0.2), axis=1)
    qcodes = codes[rng.choice(len(codes), 9, replace=False)] ^ np.uint8(1)
    exclude = rng.integers(0, len(codes), 9)
    monkeypatch.setattr(kernels, "COUNTED_BYTES", 2 * len(codes) * 2)  # two queries per pass: several passes
    for count in (1, 37, 2999):
        got = kernels.hamming_counted(codes, qcodes, count, exclude=exclude, threads=threads)
        np.testing.assert_array_equal(got, reference(codes, qcodes, count, exclude))
        np.testing.assert_array_equal(got, kernels.hamming_nearest(spans(codes, 257), qcodes, count, exclude=exclude))
    np.testing.assert_array_equal(kernels.hamming_counted(codes, qcodes, 500), reference(codes, qcodes, 500))
    with pytest.raises(ValueError, match="count = 3000 is more than the 2999 rows"):
        kernels.hamming_counted(codes, qcodes, 3000, exclude=exclude)


def test_candidate_dots_equal_gathered_products():
    rng = np.random.default_rng(4)
    unit = rng.standard_normal((5000, 384), dtype=np.float32)
    queries = rng.standard_normal((7, 384), dtype=np.float32)
    candidates = rng.integers(0, len(unit), (7, 300))
    want = np.einsum("qcd,qd->qc", unit[candidates], queries)
    np.testing.assert_allclose(kernels.candidate_dots(unit, queries, candidates), want, rtol=1e-5, atol=1e-4)


def test_asymmetric_scores_are_the_query_against_the_sign_vectors():
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 100), dtype=np.float32)  # 100 dims: 13 bytes, the last one half used
    queries = rng.standard_normal((300, 100), dtype=np.float32)  # more than one batch of lookup tables
    codes = np.packbits(vectors > 0, axis=1)
    positions = rng.integers(0, len(codes), (300, 20))
    signs = np.where(vectors > 0, 1.0, -1.0).astype(np.float32)
    want = np.einsum("qcd,qd->qc", signs[positions], queries)
    np.testing.assert_allclose(kernels.asymmetric_scores(queries, codes, positions), want, rtol=1e-4, atol=1e-4)
