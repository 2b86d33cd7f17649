"""Every benchmark script still runs: `benchmarks/run_all.py --quick` once, each script yields a result.

Whether a benchmark meets its goal is not asserted here (none is a timed test); only that none rotted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


@pytest.mark.timeout(1800)
def test_run_all_quick_gives_every_script_a_result(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--json", str(out)],
                          check=False, cwd=tmp_path, capture_output=True, text=True, timeout=1700)
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert out.exists(), proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    scripts = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))
    errors = [r for r in rows if r["verdict"] == "ERROR"]
    assert not errors, errors
    assert len(rows) >= len(scripts)
    assert all(r["verdict"] in ("PASS", "FALLS SHORT") and r["figure"] for r in rows), rows
    assert proc.returncode == 0
