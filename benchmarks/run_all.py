"""Run every benchmarks/bench_*.py in a bounded time; print one table and write it as JSON.

    python benchmarks/run_all.py [--quick] [--timeout 600] [--json benchmarks/results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that every script still runs")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per script")
    p.add_argument("--json", type=Path, default=HERE / "results.json")
    p.add_argument("only", nargs="*", help="names like 'import' or 'search' to run a subset")
    args = p.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for script in scripts:
            out = Path(tmp) / f"{script.stem}.json"
            cmd = [sys.executable, str(script), "--json", str(out)] + (["--quick"] if args.quick else [])
            started = time.perf_counter()
            try:
                proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=args.timeout, check=False)
                ok = proc.returncode == 0 and out.exists()
                error = "" if ok else (proc.stderr.strip().splitlines() or ["no result"])[-1]
            except subprocess.TimeoutExpired:
                ok, error = False, f"timed out after {args.timeout:.0f} s"
            seconds = time.perf_counter() - started
            if ok:
                rows.extend(json.loads(out.read_text()) if out.read_text().lstrip().startswith("[")
                            else [json.loads(out.read_text())])
            else:
                failures += 1
                rows.append({"name": script.stem, "figure": error, "verdict": "ERROR", "goal": ""})
            print(f"  {script.name}: {seconds:.1f} s", file=sys.stderr)

    width = max(len(r["name"]) for r in rows) if rows else 10
    for r in rows:
        print(f"{r['name']:<{width}}  {r['verdict']:<11}  {r['figure']}")
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
