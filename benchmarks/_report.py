"""What every benchmark script shares: a verdict line and an optional JSON result."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    p.add_argument("--quick", action="store_true", help="a tiny size, for the smoke test")
    return p


def report(name: str, goal: str, figure: str, passed: bool, json_path: Path | None, **values) -> dict:
    verdict = "PASS" if passed else "FALLS SHORT"
    print(f"{name}: {figure}  (goal: {goal})  {verdict}")
    result = {
        "name": name,
        "goal": goal,
        "figure": figure,
        "verdict": verdict,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        **values,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    return result
