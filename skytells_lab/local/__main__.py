"""`python -m skytells_lab.local`: the same as `skytells-lab serve`, with the same flags."""

from __future__ import annotations

import sys

from skytells_lab.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
