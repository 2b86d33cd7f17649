"""neighbors(method="approximate"): the HNSW graph against the exact one."""

import numpy as np
import pytest

from skytells_lab.analysis import EmbeddingSpace
from skytells_lab.analysis.search import unit_rows

pytest.importorskip("faiss")


def test_approximate_graph_recalls_the_exact_graph_with_exact_scores():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((30, 48)).astype(np.float32)
    vectors = unit_rows(centres[rng.integers(0, 30, 3000)] + 0.6 * rng.standard_normal((3000, 48)).astype(np.float32))
    space = EmbeddingSpace(vectors)
    exact = space.neighbors(10)
    graph = space.neighbors(10, method="approximate")
    hits = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(graph.indices, exact.indices, strict=True)])
    assert hits >= 0.95
    assert not np.any(graph.indices == np.arange(3000)[:, None])
    np.testing.assert_allclose(graph.scores, np.einsum("nkd,nd->nk", vectors[graph.indices], vectors), atol=1e-5)
    assert np.all(np.diff(graph.scores, axis=1) <= 1e-6)
    some = space.neighbors(5, rows=[7, 9], method="approximate")  # the index is reused
    assert some.indices.shape == (2, 5) and len(some.frame()) == 10
    with pytest.raises(ValueError, match="method"):
        space.neighbors(5, method="hnsw")
