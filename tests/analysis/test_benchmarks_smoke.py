"""Each EmbeddingSpace benchmark runs once at a tiny size, so the scripts cannot rot (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("script", ["bench_search.py", "bench_space_memory.py"])
def test_benchmark_runs_at_its_quick_size(script, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())
    assert rows and all({"name", "goal", "figure", "verdict"} <= set(row) for row in rows)
    assert all(row["verdict"] in {"PASS", "FALLS SHORT", "SKIPPED"} for row in rows)
    assert "goal" in proc.stdout
