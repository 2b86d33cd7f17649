"""Spaces on disk: codes saved beside the vectors, memory-mapped loading, vectors from Arrow and Parquet."""

import numpy as np
import pandas as pd
import pytest

from skytells_lab.analysis import EmbeddingSpace
from skytells_lab.analysis.quantize import stream
from skytells_lab.analysis.search import unit_rows


@pytest.fixture
def unit_space(rng):
    vectors = unit_rows(rng.standard_normal((3000, 32)).astype(np.float32))
    return EmbeddingSpace(vectors, pd.DataFrame({"text": [f"t{i}" for i in range(3000)]}))


def test_saved_codes_are_loaded_not_recomputed(tmp_path, unit_space, rng, monkeypatch):
    queries = unit_rows(rng.standard_normal((4, 32)).astype(np.float32))
    want = {p: unit_space.search(queries, 5, precision=p) for p in ("int8", "binary")}
    unit_space.save(tmp_path / "s")
    assert {f.name for f in (tmp_path / "s").iterdir()} >= {"int8_codes.npy", "int8_scale.npy", "binary_codes.npy"}
    from skytells_lab.analysis import quantize

    def refuse(*a, **kw):
        raise AssertionError("codes were recomputed")

    monkeypatch.setattr(quantize.Int8Codes, "encode", refuse)
    monkeypatch.setattr(quantize.BinaryCodes, "encode", refuse)
    for mmap in (False, True):
        loaded = EmbeddingSpace.load(tmp_path / "s", mmap=mmap)
        assert (quantize._mapping(loaded.vectors) is not None) == mmap
        assert loaded.normalized is loaded.vectors  # unit vectors: no copy, no norm pass
        for precision, frame in want.items():
            got = loaded.search(queries, 5, precision=precision)
            pd.testing.assert_frame_equal(got, frame)
    # saving a mapped space into its own folder keeps the file
    loaded.save(tmp_path / "s")
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "vectors.npy"), unit_space.vectors)


def test_stream_over_a_mapped_file_gives_every_row(tmp_path, rng):
    matrix = rng.standard_normal((5000, 16)).astype(np.float32)
    np.save(tmp_path / "m.npy", matrix)
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    seen = np.vstack([block.copy() for _, _, block in stream(mapped[100:], 777)])
    np.testing.assert_array_equal(seen, matrix[100:])


def test_vectors_from_arrow_and_parquet_columns(tmp_path, rng):
    pa = pytest.importorskip("pyarrow")
    from pyarrow import feather

    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    table = pa.table({"id": np.arange(50), "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(vectors.ravel()), 8)})
    feather.write_feather(table, tmp_path / "v.arrow")
    table.to_pandas().assign(embedding=list(vectors)).to_parquet(tmp_path / "v.parquet")
    for source in (table, tmp_path / "v.arrow", tmp_path / "v.parquet"):
        space = EmbeddingSpace.from_arrow(source)
        np.testing.assert_array_equal(space.vectors, vectors)
        assert space.data.columns.tolist() == ["id"]
    with pytest.raises(ValueError, match="column='vec'|no column 'vec'"):
        EmbeddingSpace.from_arrow(table, column="vec")


def test_non_finite_vectors_are_refused_with_their_rows():
    vectors = np.ones((10, 4), np.float32)
    vectors[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(rows \[3\]\)"):
        EmbeddingSpace(vectors).search(np.ones(4, np.float32))


def test_rows_of_a_mapped_file_are_read_exactly(tmp_path, rng):
    from skytells_lab.analysis.quantize import read_rows

    matrix = rng.standard_normal((3000, 24)).astype(np.float32)
    np.save(tmp_path / "m.npy", matrix)
    mapped = np.ascontiguousarray(np.load(tmp_path / "m.npy", mmap_mode="r"))
    rows = np.array([0, 5, 17, 2999])
    np.testing.assert_array_equal(read_rows(mapped, rows), matrix[rows])
    np.testing.assert_array_equal(read_rows(mapped[1000:], rows[:3]), matrix[1000 + rows[:3]])


def test_one_reader_for_vector_columns_names_the_column_and_the_fix():
    import pyarrow as pa

    from skytells_lab.notebook.vectors import arrow_matrix

    m = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert np.array_equal(arrow_matrix(pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 3)), m)
    holes = pa.array([[1.0, 2.0], None, [3.0, 4.0]])
    out = arrow_matrix(holes, allow_missing=True)
    assert np.isnan(out[1]).all() and out[2].tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="'v' has 1 empty rows.*dropna"):
        arrow_matrix(holes, "v")
    with pytest.raises(ValueError, match="different lengths"):
        arrow_matrix(pa.array([[1.0], [1.0, 2.0]]), "v")
    with pytest.raises(ValueError, match="lists of floats"):
        arrow_matrix(pa.array([1.0]), "v")
    assert arrow_matrix(pa.array([], pa.list_(pa.float32()))).shape == (0, 0)
