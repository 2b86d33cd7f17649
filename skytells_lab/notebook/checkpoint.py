"""A job's results on disk, one Parquet file per partition, so a rerun pays only for what is not done.

A checkpoint folder holds ``part-00003.parquet`` for each finished partition (its rows, their results, the
``model`` and the ``input_hash`` of each row; vectors as a fixed-size list<float32> column) and
``_ledger/part-00003-<attempt>.parquet``, the calls each attempt at a partition made. A partition file is
written to a temporary name and renamed into place, so a file is either whole or absent: a worker that
dies mid-partition leaves nothing behind, and the retried partition cannot add its rows twice. The folder
is an ordinary Parquet dataset: ``dd.read_parquet(path)``, ``pd.read_parquet(path)``, or
``EmbeddingSpace.from_parquet(path, vectors="embedding")``.

Paths are local or on a shared file system (NFS, Lustre, a mounted bucket) that every worker sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "input_hashes", "job_ledger", "part_path", "read_part", "stack_vectors", "vector_array", "vector_type",
    "write_ledger", "write_part",
]

MODEL_COLUMN = "model"
HASH_COLUMN = "input_hash"
LEDGER_FOLDER = "_ledger"


def vector_type(dimensions: int | None = None):
    """The Arrow type of a vector cell: fixed-size list<float32> on disk, a plain list in memory."""
    import pyarrow as pa

    return pa.list_(pa.float32(), dimensions) if dimensions else pa.list_(pa.float32())


def input_hashes(values: list[Any], request: dict[str, Any]) -> list[str]:
    """One hex digest per row of (the request's fixed part, the row's value): equal only for the same call."""
    head = json.dumps(request, sort_keys=True, default=str).encode("utf-8")
    return [hashlib.blake2b(head + b"\0" + json.dumps(v, default=str).encode("utf-8"), digest_size=16).hexdigest()
            for v in values]


def part_path(folder: str | os.PathLike, number: int) -> Path:
    return Path(folder) / f"part-{int(number):05d}.parquet"


def read_part(folder: str | os.PathLike, number: int) -> pd.DataFrame | None:
    """The partition's finished rows as written (vector columns as lists), or None when there are none."""
    path = part_path(folder, number)
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas(types_mapper=_list_mapper)


def _list_mapper(arrow_type: Any) -> Any:
    import pyarrow as pa

    lists = pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type)
    if lists and pa.types.is_floating(arrow_type.value_type):
        return pd.ArrowDtype(vector_type())
    return None


def write_part(folder: str | os.PathLike, number: int, frame: pd.DataFrame, vector_columns: tuple[str, ...] = ()
               ) -> Path:
    """Write the partition's rows atomically (temporary file, then rename); vector columns fixed-size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plain = frame.copy(deep=False)
    plain.attrs = {}
    # vector columns are added after pandas' metadata is made: it would name a dtype pandas cannot read back
    table = pa.Table.from_pandas(plain.drop(columns=list(vector_columns)), preserve_index=True)
    for name in vector_columns:
        table = table.append_column(name, _fixed(pa.chunked_array([plain[name].array._pa_array.combine_chunks()])
                                                 if isinstance(plain[name].dtype, pd.ArrowDtype)
                                                 else pa.chunked_array([pa.array(plain[name].tolist())])))
    path = part_path(folder, number)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    # an attempt killed mid-write (a lost worker) leaves its temporary file: the partition is whole now
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
    return path


def _fixed(column: Any) -> Any:
    """A list<float32> column as fixed-size list<float32> (missing vectors stay null)."""
    import pyarrow.compute as pc

    column = column.combine_chunks()
    lengths = column.value_lengths().drop_null()
    dims = int(lengths[0].as_py()) if len(lengths) else 0
    if len(lengths) and not bool(pc.all(pc.equal(lengths, dims)).as_py()):
        raise ValueError("vectors of one column must all have the same length")
    return column.cast(vector_type(dims)) if dims else column


def write_ledger(folder: str | os.PathLike, number: int, ledger: pd.DataFrame) -> Path | None:
    """Keep one attempt's calls (failed attempts cost credits too): a file per attempt, never overwritten."""
    if ledger.empty:
        return None
    target = Path(folder) / LEDGER_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"part-{int(number):05d}-{uuid.uuid4().hex[:12]}.parquet"
    frame = ledger.copy()
    frame.attrs = {}
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("string")
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)
    return path


def job_ledger(folder: str | os.PathLike) -> pd.DataFrame:
    """Every call of every attempt of the job, one row per call, with the partition it served."""
    files = sorted((Path(folder) / LEDGER_FOLDER).glob("part-*.parquet"))
    if not files:
        return pd.DataFrame(columns=["partition", "time", "kind", "model", "latency_s", "status", "ok",
                                     "credits_used"])
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("time", kind="stable")


def vector_array(matrix: np.ndarray, valid: np.ndarray | None = None) -> pd.api.extensions.ExtensionArray:
    """A float32 (n, d) matrix as a list<float32> pandas column (null where ``valid`` is False)."""
    import pyarrow as pa

    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n, dims = matrix.shape
    offsets = pa.array(np.arange(0, n * dims + 1, dims, dtype=np.int32)) if dims else pa.array(np.zeros(n + 1, np.int32))
    mask = None if valid is None else pa.array(~np.asarray(valid, dtype=bool))
    array = pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=pa.float32()), mask=mask)
    return pd.arrays.ArrowExtensionArray(array)


def stack_vectors(column: pd.Series) -> np.ndarray:
    """A list<float32> column as one float32 (n, d) matrix (NaN rows where a vector is missing)."""
    import pyarrow as pa

    from skytells_lab.notebook.vectors import arrow_matrix

    array = pa.array(column) if not isinstance(column.dtype, pd.ArrowDtype) else column.array._pa_array
    return arrow_matrix(array, str(column.name), allow_missing=True)
