"""Vectors from Parquet, and exact cosine search over a Dask array of vectors bigger than one machine's memory.

``read_parquet_space(path, vectors="embedding")`` reads a Parquet file or folder (such as a Dask job's
checkpoint) into an :class:`EmbeddingSpace`: the fixed-size list column becomes the float32 matrix in one
copy, every other column the space's data. With ``lazy=True`` it gives a :class:`DaskEmbeddingSpace`
instead: the vectors stay on disk as a Dask array (one block per file), only the data columns are read.

``dask_topk`` is the same search as the in-memory one: each block's exact top-k is computed where the
block lives (on the workers, under a distributed client), then the per-block winners are merged on the
driver by (score descending, row ascending), so the result is exactly the global top-k, ties included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skytells_lab.analysis.search import numpy_topk, unit_rows

__all__ = ["DaskEmbeddingSpace", "dask_topk", "parquet_files", "read_parquet_space"]

MODEL_COLUMN = "model"  # what a Dask embedding job writes beside each vector


def parquet_files(path) -> list[Path]:
    """The Parquet files of a file or a folder (its ``*.parquet``, sorted; hidden and ``_`` entries skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {path}")
    return files


def _dimensions(files: list[Path], vectors: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    if vectors not in schema.names:
        raise KeyError(f"{files[0]} has no column {vectors!r}; its columns: {schema.names}")
    kind = schema.field(vectors).type
    if pa.types.is_fixed_size_list(kind):
        return int(kind.list_size)
    if pa.types.is_list(kind):
        return 0  # learned from the data
    raise TypeError(f"column {vectors!r} holds {kind}, not vectors: write them as a fixed-size list<float32>")


def _read_vectors(file: Path, vectors: str) -> np.ndarray:
    """One file's vectors as float32 (n, d); a missing vector is a row of NaN."""
    import pyarrow.parquet as pq

    from skytells_lab.notebook.vectors import arrow_matrix

    return arrow_matrix(pq.read_table(file, columns=[vectors]).column(vectors), vectors, allow_missing=True)


def _read_data(files: list[Path], vectors: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    names = [n for n in pq.read_schema(files[0]).names if n != vectors]
    frames = [pq.read_table(f, columns=names).to_pandas() for f in files]
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def _model(data: pd.DataFrame) -> str | None:
    if MODEL_COLUMN in data.columns and len(data):
        models = data[MODEL_COLUMN].dropna().unique()
        if len(models) > 1:
            raise ValueError(f"the vectors come from more than one model: {list(models)}")
        return str(models[0]) if len(models) else None
    return None


def read_parquet_space(path, vectors: str = "embedding", *, lazy: bool = False, client=None,
                       text_column: str | None = None, model: str | None = None):
    """An EmbeddingSpace (or, ``lazy=True``, a DaskEmbeddingSpace) over the Parquet file or folder ``path``.

    vectors : the column holding the vectors (fixed-size list<float32>); rows without one are refused.
    client, text_column, model : as for EmbeddingSpace; the model defaults to the ``model`` column.
    """
    files = parquet_files(path)
    dims = _dimensions(files, vectors)
    data = _read_data(files, vectors)
    model = model or _model(data)
    if lazy:
        import dask
        import dask.array as da
        import pyarrow.parquet as pq

        counts = [pq.ParquetFile(f).metadata.num_rows for f in files]
        if not dims:
            dims = _read_vectors(files[0], vectors).shape[1]
        blocks = [da.from_delayed(dask.delayed(_read_vectors)(f, vectors), shape=(n, dims), dtype=np.float32)
                  for f, n in zip(files, counts, strict=True) if n]
        return DaskEmbeddingSpace(da.concatenate(blocks, axis=0), data, model=model, client=client,
                                  text_column=text_column)
    from skytells_lab.analysis.space import EmbeddingSpace

    matrix = np.concatenate([_read_vectors(f, vectors) for f in files])
    missing = np.isnan(matrix).any(axis=1) if matrix.shape[1] else np.ones(len(matrix), bool)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} rows of {path} have no vector in {vectors!r} (failed or empty "
                         "inputs); drop them first, e.g. pd.read_parquet(path).dropna(subset=[column])")
    return EmbeddingSpace(matrix, data, model=model, client=client, text_column=text_column)


def _block_topk(block: np.ndarray, queries: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """One block's exact top-k (its rows normalized here), as global row numbers."""
    block = np.asarray(block, dtype=np.float32)
    if not len(block):
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    scores, index = numpy_topk(unit_rows(block), queries, min(k, len(block)), progress=False)
    return scores, index + offset


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k of per-block top-k lists: best score first, ties by the lower row."""
    scores = np.hstack([s for s, _ in parts])
    index = np.hstack([i for _, i in parts])
    order = np.lexsort((index, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(index, order, axis=1)


def dask_topk(vectors, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of unit ``queries`` (nq, d) against the rows of the Dask array ``vectors`` (n, d).

    Each row block is searched where it is computed (a worker, under a distributed client); only k
    scores and rows per block and query come back. Returns (scores, rows), both (nq, k), best first.
    """
    import dask

    if vectors.ndim != 2 or vectors.shape[1] != queries.shape[1]:
        raise ValueError(f"vectors of shape {vectors.shape} and queries of shape {queries.shape} do not match")
    if vectors.numblocks[1] != 1:
        vectors = vectors.rechunk({1: -1})
    offsets = np.concatenate([[0], np.cumsum(vectors.chunks[0])[:-1]]).astype(int)
    blocks = vectors.to_delayed().ravel()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    parts = dask.compute(*[dask.delayed(_block_topk)(b, queries, k, int(o))
                           for b, o in zip(blocks, offsets, strict=True)])
    return merge_topk(list(parts), k)


class DaskEmbeddingSpace:
    """Vectors as a Dask array (on disk or on the cluster) and their data in memory: exact ``search``
    with the same results as :meth:`EmbeddingSpace.search`. ``persist()`` keeps the blocks on the workers."""

    def __init__(self, vectors, data: pd.DataFrame | None = None, *, model: str | None = None, client=None,
                 text_column: str | None = None) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D (n, d) Dask array, got shape {vectors.shape}")
        if data is None:
            data = pd.DataFrame(index=pd.RangeIndex(vectors.shape[0]))
        if len(data) != vectors.shape[0]:
            raise ValueError(f"data has {len(data)} rows but there are {vectors.shape[0]} vectors")
        self.vectors = vectors
        self.data = data
        self.model = model
        self.client = client
        self.text_column = text_column or "text"

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.vectors.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def persist(self) -> DaskEmbeddingSpace:
        """Read the blocks once and keep them in the cluster's memory for the next searches."""
        self.vectors = self.vectors.persist()
        return self

    def search(self, query, k: int = 10):
        """Exact cosine top-k for a text, a vector, or a batch of either: the frame of EmbeddingSpace.search."""
        from skytells_lab.analysis.space import EmbeddingSpace

        queries, labels = EmbeddingSpace._queries(self, query)
        k = min(k, len(self))
        scores, rows = dask_topk(self.vectors, queries, k)
        return EmbeddingSpace._hits_frame(self, rows.ravel(), {
            "query": np.repeat(np.asarray(labels, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), len(labels)),
            "score": scores.ravel(),
        })

    def _embed(self, texts: list[str]) -> np.ndarray:
        from skytells_lab.analysis.space import EmbeddingSpace

        return EmbeddingSpace._embed(self, texts)

    def __repr__(self) -> str:
        n, d = self.shape
        model = f", model={self.model}" if self.model else ""
        return f"DaskEmbeddingSpace({n:,} × {d}, {self.vectors.numblocks[0]} blocks{model})"

    def _repr_html_(self) -> str:
        from skytells_lab.analysis.cards import card

        n, d = self.shape
        rows = [("items", f"{n:,}"), ("dimensions", str(d)), ("blocks", str(self.vectors.numblocks[0])),
                ("matrix", f"float32, {n * d * 4 / 2**20:,.1f} MiB, out of core")]
        if self.model:
            rows.insert(2, ("model", self.model))
        return card("DaskEmbeddingSpace", rows)
