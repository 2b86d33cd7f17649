"""The torch path (device=) gives the numpy path's results; run on the CPU here, on a GPU when lent."""

import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace, torch_search

pytest.importorskip("torch")


def test_torch_cpu_search_and_neighbors_equal_numpy(rng, monkeypatch):
    vectors = rng.standard_normal((2500, 24)).astype(np.float32)
    queries = rng.standard_normal((6, 24)).astype(np.float32)
    numpy_space = EmbeddingSpace(vectors)
    torch_space = EmbeddingSpace(vectors, device="cpu")
    monkeypatch.setattr(torch_search, "DEVICE_BLOCK_SCORES", 6 * 500)  # five blocks of 500 rows
    want, got = numpy_space.search(queries, 10), torch_space.search(queries, 10)
    assert list(got.index) == list(want.index)
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-5, atol=1e-6)
    rows = np.arange(0, 2500, 50)
    exact, on_device = numpy_space.neighbors(8, rows=rows), torch_space.neighbors(8, rows=rows)
    np.testing.assert_array_equal(on_device.indices, exact.indices)
    np.testing.assert_allclose(on_device.scores, exact.scores, rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(torch_space.search(queries, 5, precision="int8"),
                                  numpy_space.search(queries, 5, precision="int8"))
