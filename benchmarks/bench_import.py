"""`import skytells_lab` against `import httpx`: heavy stacks stay unloaded, time within 3x httpx's."""

from __future__ import annotations

import statistics
import subprocess
import sys

from _report import parser, report

HEAVY = ("torch", "transformers", "sklearn", "matplotlib", "ipywidgets", "fastapi", "pandas")


def import_seconds(statement: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    samples = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(runs)]
    return statistics.median(samples)


def main() -> None:
    args = parser(__doc__).parse_args()
    runs = 3 if args.quick else 15
    loaded = subprocess.check_output(
        [sys.executable, "-c", ("import sys, skytells_lab; from skytells_lab import Skytells; "
                                f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")], text=True).split()
    httpx_s = import_seconds("import httpx", runs)
    ours_s = import_seconds("import skytells_lab; from skytells_lab import Skytells", runs)
    ratio = ours_s / httpx_s
    report("import", "no heavy stack loaded; at most 3x `import httpx`",
           f"{ours_s * 1000:.0f} ms vs httpx {httpx_s * 1000:.0f} ms = {ratio:.2f}x; heavy loaded: {loaded or 'none'}",
           ratio <= 3 and not loaded, args.json, ratio=ratio, heavy_loaded=loaded)


if __name__ == "__main__":
    main()
