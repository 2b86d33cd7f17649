"""Exact top-k over a Dask array (threaded scheduler, no cluster) and EmbeddingSpace.from_parquet's errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

da = pytest.importorskip("dask.array")

from skytells_lab import EmbeddingSpace
from skytells_lab.analysis.dask_search import dask_topk
from skytells_lab.analysis.search import numpy_topk, unit_rows
from skytells_lab.notebook import checkpoint as C


def test_blocks_merged_give_the_global_top_k_of_uneven_blocks():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1003, 24)).astype(np.float32)
    queries = unit_rows(rng.standard_normal((7, 24)).astype(np.float32))
    lazy = da.from_array(vectors, chunks=((100, 3, 500, 400), 24))
    for k in (1, 10, 150):  # k larger than a block (3 rows) and than some blocks' share
        scores, rows = dask_topk(lazy, queries, k)
        expected_s, expected_i = numpy_topk(unit_rows(vectors), queries, k)
        assert (rows == expected_i).all()
        np.testing.assert_allclose(scores, expected_s, atol=1e-6)


def test_exact_ties_go_to_the_lower_row_across_blocks():
    base = np.eye(4, dtype=np.float32)
    vectors = np.vstack([base, base, base])  # rows 0, 4, 8 are the same vector
    lazy = da.from_array(vectors, chunks=(4, 4))
    scores, rows = dask_topk(lazy, base[:1], 2)
    assert rows.tolist() == [[0, 4]] and scores.tolist() == [[1.0, 1.0]]


def test_from_parquet_names_what_is_wrong(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b"], "n": [1, 2]})
    C.write_part(tmp_path, 0, frame.assign(embedding=C.vector_array(np.eye(2, dtype=np.float32))), ("embedding",))
    space = EmbeddingSpace.from_parquet(tmp_path)
    assert space.shape == (2, 2) and space.data["text"].tolist() == ["a", "b"]
    with pytest.raises(KeyError, match="no column 'vectors'"):
        EmbeddingSpace.from_parquet(tmp_path, vectors="vectors")
    with pytest.raises(TypeError, match="not vectors"):
        EmbeddingSpace.from_parquet(tmp_path, vectors="n")
    with pytest.raises(FileNotFoundError, match="no Parquet files"):
        EmbeddingSpace.from_parquet(tmp_path / "empty-folder-that-is-missing")
