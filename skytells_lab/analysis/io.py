"""Save and load an EmbeddingSpace: a folder with vectors.npy, data.parquet and meta.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


def save_space(space, path) -> Path:
    """Write `space` to the folder `path` (created if needed); returns the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", space.vectors)
    space.data.to_parquet(folder / "data.parquet")
    meta = {
        "format": FORMAT_VERSION,
        "model": space.model,
        "text_column": space.text_column,
        "cluster_names": [[_plain(key), value] for key, value in space.cluster_names_.items()],
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def load_space(path, *, mmap: bool = False, client=None):
    """Read a folder written by save_space. mmap=True maps vectors.npy read-only instead of reading it,
    for spaces larger than memory (the normalized copy is then made only if the vectors are not unit)."""
    import pandas as pd

    from skytells_lab.analysis.space import EmbeddingSpace

    folder = Path(path)
    meta = json.loads((folder / "meta.json").read_text())
    vectors = np.load(folder / "vectors.npy", mmap_mode="r" if mmap else None)
    space = EmbeddingSpace(vectors, pd.read_parquet(folder / "data.parquet"), model=meta.get("model"),
                           client=client, text_column=meta.get("text_column"))
    space.cluster_names_ = {key: value for key, value in meta.get("cluster_names", [])}
    return space
