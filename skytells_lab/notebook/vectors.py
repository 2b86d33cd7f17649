"""Embedding vectors kept beside a DataFrame as ONE float32 matrix, never as a Python list per cell.

``attach_vectors(df, "text", matrix)`` adds an int32 column ``text_vec`` (the row of each text's vector in
the matrix; -1 where there is none) and keeps the matrix in ``df.attrs["skytells_vectors"]["text"]``.
Filtering, sorting or sampling the frame keeps the ``text_vec`` numbers right, so ``vectors_of(df)`` always
returns the rows of the current frame in order. The matrix is read-only and shared, never deep-copied,
when pandas copies ``attrs``. Export with :func:`to_parquet` (a fixed-size-list float32 column) or
:func:`save_npy`; :func:`read_parquet` reattaches them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# the client's .frame() attaches vectors; this module reads, exports and re-attaches them
from skytells_lab.api._frames import ATTRS_KEY, SUFFIX, VectorBlock, attach_vectors

__all__ = [
    "VectorBlock",
    "arrow_matrix",
    "attach_vectors",
    "read_parquet",
    "save_npy",
    "to_parquet",
    "vector_columns",
    "vectors_of",
]


def arrow_matrix(values, column: str = "embedding", *, allow_missing: bool = False) -> np.ndarray:
    """The one reader of a vector column: an Arrow list / large list / fixed-size list of floats (a
    ``pyarrow.Array`` or ``ChunkedArray``) as one float32 (n, d) matrix, in a single copy.

    values : the column.
    column : its name, for the errors.
    allow_missing : give a row of NaN for a null row (a failed call in a checkpoint) instead of refusing it.
    """
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type)
            or pa.types.is_large_list(values.type)):
        raise ValueError(f"column {column!r} must hold lists of floats (one vector per row), got {values.type}")
    if values.null_count and not allow_missing:
        raise ValueError(f"column {column!r} has {values.null_count} empty rows: every row needs a vector; drop "
                         f"them first, e.g. df.dropna(subset=[{column!r}])")
    lengths = np.unique(values.value_lengths().drop_null().to_numpy(zero_copy_only=False))
    if len(lengths) > 1:
        raise ValueError(f"column {column!r} holds vectors of {len(lengths)} different lengths "
                         f"({', '.join(map(str, lengths[:4]))}...): every vector needs the same d")
    dims = int(lengths[0]) if len(lengths) else 0
    valid = ~np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if not dims:
        return np.full((len(values), 0), np.nan, dtype=np.float32)
    present = values.drop_null() if values.null_count else values
    flat = present.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dims)
    if valid.all():
        return flat
    out = np.full((len(values), dims), np.nan, dtype=np.float32)
    out[valid] = flat
    return out


def vector_columns(df: pd.DataFrame) -> list[str]:
    """The columns that have vectors attached (and whose position column is still there)."""
    return [c for c in (df.attrs.get(ATTRS_KEY) or {}) if c + SUFFIX in df.columns]


def _resolve(df: pd.DataFrame, column: str | None) -> str:
    columns = vector_columns(df)
    if column is None:
        if len(columns) != 1:
            raise ValueError(f"say which column's vectors: {columns}" if columns else
                             "this frame has no vectors; use df.skytells.embed(column) first")
        return columns[0]
    if column not in columns:
        raise KeyError(f"no vectors for column {column!r}; frames with vectors: {columns}")
    return column


def vectors_of(df: pd.DataFrame, column: str | None = None) -> np.ndarray:
    """The float32 (len(df), d) matrix of the frame's rows, in order (NaN rows where none)."""
    column = _resolve(df, column)
    block: VectorBlock = df.attrs[ATTRS_KEY][column]
    positions = df[column + SUFFIX].to_numpy(dtype=np.int64, na_value=-1)
    if len(positions) == block.matrix.shape[0] and (positions == np.arange(len(positions))).all():
        return block.matrix
    out = block.matrix[np.clip(positions, 0, None)] if block.matrix.shape[0] else np.zeros(
        (len(positions), 0), np.float32)
    missing = positions < 0
    if missing.any():
        out = out.copy()
        out[missing] = np.nan
    return out


def model_of(df: pd.DataFrame, column: str | None = None) -> str | None:
    return df.attrs[ATTRS_KEY][_resolve(df, column)].model


def save_npy(df: pd.DataFrame, path: str | Path, column: str | None = None) -> Path:
    path = Path(path)
    np.save(path, vectors_of(df, column))
    return path


def to_parquet(df: pd.DataFrame, path: str | Path, column: str | None = None) -> Path:
    """Write the frame with its vectors as a ``<column>_embedding`` fixed-size-list<float32> column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = vector_columns(df) if column is None else [_resolve(df, column)]
    plain = df.drop(columns=[c + SUFFIX for c in columns])
    plain.attrs = {}
    table = pa.Table.from_pandas(plain, preserve_index=True)
    meta = dict(table.schema.metadata or {})
    vector_meta = {}
    for name in columns:
        matrix = vectors_of(df, name)
        flat = pa.array(matrix.reshape(-1), type=pa.float32())
        table = table.append_column(name + "_embedding", pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1]))
        vector_meta[name] = {"model": model_of(df, name), "dimensions": int(matrix.shape[1])}
    meta[b"skytells_vectors"] = json.dumps(vector_meta).encode()
    if "skytells" in df.attrs:
        meta[b"skytells"] = json.dumps(df.attrs["skytells"], default=str).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return Path(path)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a frame written by :func:`to_parquet`, with its vectors attached again."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    vector_meta = json.loads(meta.get(b"skytells_vectors", b"{}"))
    matrices = {}
    for name, info in vector_meta.items():
        matrices[name] = (arrow_matrix(table.column(name + "_embedding"), name + "_embedding", allow_missing=True),
                          info.get("model"))
        table = table.drop_columns([name + "_embedding"])
    df = table.to_pandas()
    if b"skytells" in meta:
        df.attrs["skytells"] = json.loads(meta[b"skytells"])
    for name, (matrix, model) in matrices.items():
        attach_vectors(df, name, matrix, model=model)
    return df


# pandas is loaded by now, so df.skytells comes with it at no cost (accessor.py imports this module first
# when it is the one imported: then it registers itself)
if "skytells_lab.notebook.accessor" not in sys.modules:
    import skytells_lab.notebook.accessor  # noqa: F401
