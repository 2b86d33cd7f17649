"""Save and load an EmbeddingSpace (a folder with vectors.npy, data.parquet, meta.json and the search codes),
and read vectors from a Parquet or Arrow file column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
# The codes files written beside vectors.npy, per precision.
CODE_FILES = {"int8": ("int8_codes.npy", "int8_scale.npy"), "binary": ("binary_codes.npy",)}


def save_space(space, path, *, codes=None) -> Path:
    """Write `space` to the folder `path` (created if needed); returns the folder.

    `codes`: the precisions ("int8", "binary") whose codes are written beside the vectors, so that
    `load` does not recompute them; default: those the space has already made. A space loaded with
    mmap=True from the same folder keeps its vectors.npy (it is not rewritten onto itself)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "vectors.npy", space.vectors)
    space.data.to_parquet(folder / "data.parquet")
    wanted = list(space._codes) if codes is None else list(codes)
    for precision in wanted:
        made = space.codes(precision)
        names = CODE_FILES[precision]
        _write(folder / names[0], made.codes)
        if precision == "int8":
            _write(folder / names[1], made.scale)
    meta = {
        "format": FORMAT_VERSION,
        "model": space.model,
        "text_column": space.text_column,
        "cluster_names": [[_plain(key), value] for key, value in space.cluster_names_.items()],
        "unit": space.normalized is space.vectors,
        "codes": wanted,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder


def _write(target: Path, array: np.ndarray) -> None:
    """np.save, except onto the file that `array` is mapped from (rewriting it would pull the pages away)."""
    if not _maps_file(array, target):
        np.save(target, array)


def _maps_file(array: np.ndarray, target: Path) -> bool:
    node = array
    while isinstance(node, np.ndarray) and not isinstance(node, np.memmap):
        node = node.base
    name = getattr(node, "filename", None)
    return name is not None and target.exists() and Path(name).resolve() == target.resolve()


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def load_space(path, *, mmap: bool = False, client=None):
    """Read a folder written by save_space. mmap=True maps vectors.npy and the codes read-only instead
    of reading them, for spaces larger than memory: a search at int8 or binary precision then scans the
    codes and reads only its candidates' rows of float32 from the file."""
    import pandas as pd

    from skytells_lab.analysis.quantize import BinaryCodes, Int8Codes
    from skytells_lab.analysis.space import EmbeddingSpace

    folder = Path(path)
    meta = json.loads((folder / "meta.json").read_text())
    mode = "r" if mmap else None
    vectors = np.load(folder / "vectors.npy", mmap_mode=mode)
    data = pd.read_parquet(folder / "data.parquet")
    if len(data) == 0 and len(data.columns) == 0:  # a frame with no columns and a RangeIndex keeps no rows
        data = None
    space = EmbeddingSpace(vectors, data, model=meta.get("model"),
                           client=client, text_column=meta.get("text_column"))
    space.cluster_names_ = {key: value for key, value in meta.get("cluster_names", [])}
    if meta.get("unit"):
        space._unit = space.vectors
    for precision in meta.get("codes", []):
        names = CODE_FILES[precision]
        codes = np.load(folder / names[0], mmap_mode=mode)
        space._codes[precision] = (Int8Codes(codes, np.load(folder / names[1])) if precision == "int8"
                                   else BinaryCodes(codes))
    return space


def read_vectors(source, column: str = "embedding"):
    """(vectors (n, d) float32, the other columns as a DataFrame) from a Parquet file, an Arrow IPC
    (Feather v2) file, or a pyarrow Table whose `column` holds one list of floats per row.

    An Arrow file is memory-mapped, so its other columns cost nothing until used."""
    import pyarrow as pa

    if isinstance(source, pa.Table):
        table = source
    else:
        path = Path(source)
        if path.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    if column not in table.column_names:
        raise ValueError(f"no column {column!r} in {table.column_names}: pass column= the vectors' column")
    from skytells_lab.notebook.vectors import arrow_matrix

    vectors = arrow_matrix(table.column(column), column)
    data = table.drop_columns([column]).to_pandas()
    return vectors, data
