"""Row blocks for the blocked matrix products, and the progress bar that goes with them."""

from __future__ import annotations

from collections.abc import Iterator

# Scores held at once by one blocked product: 64 MiB of float32, small next to a 1.5 GB space and large
# enough that BLAS runs at full speed.
SCORE_BLOCK_BYTES = 64 * 2**20


def rows_per_block(width: int, *, budget: int | None = None, minimum: int = 1) -> int:
    """How many rows of a (rows x width) float32 score block fit the budget (default SCORE_BLOCK_BYTES)."""
    return max(minimum, (budget or SCORE_BLOCK_BYTES) // (4 * max(1, width)))


def blocks(n: int, size: int, *, progress: bool | None = None,
           desc: str | None = None) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) over range(n) in steps of size, with a tqdm.auto bar.

    progress=None shows the bar only when the loop runs longer than a second (tqdm's `delay`);
    False never shows it, True always does.
    """
    spans = ((start, min(start + size, n)) for start in range(0, n, size))
    count = -(-n // size) if n else 0
    if progress is False or count <= 1:
        yield from spans
        return
    from tqdm.auto import tqdm

    with tqdm(total=count, desc=desc, unit="block", delay=0 if progress else 1.0, leave=False) as bar:
        for span in spans:
            yield span
            bar.update()
