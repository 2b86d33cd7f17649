"""Shared by the EmbeddingSpace benchmarks (bench_search, bench_space_memory): timing, the test matrix,
and writing their several verdict rows (from _report.report) as one JSON list."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout that is not installed
    sys.path.insert(0, str(ROOT))


def best_time(fn, repeat: int) -> float:
    """Best wall time of `repeat` calls (the caller warms up first)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def unit_matrix(n: int, d: int, seed: int = 0) -> np.ndarray:
    """A random (n, d) float32 matrix with unit rows, allocated once and normalized in place."""
    matrix = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        block = matrix[start:start + 65536]
        block /= np.sqrt(np.einsum("ij,ij->i", block, block))[:, None]
    return matrix


def skipped(name: str, goal: str, why: str) -> dict:
    print(f"{name}: {why}  (goal: {goal})  SKIPPED")
    return {"name": name, "goal": goal, "figure": why, "verdict": "SKIPPED"}


def write_rows(rows: list[dict], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=2, default=float))
