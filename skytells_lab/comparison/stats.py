"""Confidence for comparisons: percentile bootstrap over inputs, paired differences, exact McNemar.

Pure numpy and the standard library, seeded so a report is reproducible. Inputs are the unit that is
resampled (repeats of one input are averaged first): what generalises is the set of inputs, not the calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


def bootstrap_ci(values, *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (NaN dropped); (nan, nan) when none are left.

    The same interval `scipy.stats.bootstrap(..., method="percentile")` estimates; one value gives a
    zero-width interval at it.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Difference:
    """A paired difference (candidate − baseline) over inputs, its interval and two-sided p-value."""

    mean: float
    low: float
    high: float
    p_value: float
    n: int
    test: str

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (for McNemar: p < 0.05)."""
        if self.test == "exact McNemar":
            return self.p_value < 1 - CONFIDENCE
        return bool(self.n) and (self.low > 0 or self.high < 0)


def paired_bootstrap(baseline, candidate, *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                     seed: int = 0) -> Difference:
    """Mean of `candidate - baseline` over the inputs both have, with a percentile-bootstrap interval and
    the bootstrap p-value of "no difference" (twice the smaller tail around zero)."""
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    d = (b - a)[np.isfinite(a) & np.isfinite(b)]
    if d.size == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan, 0, "paired bootstrap")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    if np.all(d == 0):
        p = 1.0
    else:
        p = min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0)))
    return Difference(float(d.mean()), float(low), float(high), float(p), int(d.size), "paired bootstrap")


def mcnemar_exact(only_baseline: int, only_candidate: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: passes only the baseline passed, and only
    the candidate. It is the binomial test of `only_candidate` successes in their sum at p = 1/2."""
    n = only_baseline + only_candidate
    if n == 0:
        return 1.0
    k = min(only_baseline, only_candidate)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2 * tail)


def paired_passes(baseline, candidate) -> Difference:
    """Difference of pass rates (candidate − baseline) over paired pass/fail outcomes: the exact McNemar
    p-value, and the percentile-bootstrap interval of the paired differences."""
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep] > 0.5, b[keep] > 0.5
    boot = paired_bootstrap(a.astype(float), b.astype(float))
    p = mcnemar_exact(int(np.sum(a & ~b)), int(np.sum(~a & b)))
    return Difference(boot.mean, boot.low, boot.high, p, boot.n, "exact McNemar")
