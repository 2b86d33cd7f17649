"""The confidence machinery against reference computations on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from skytells_lab.comparison.stats import bootstrap_ci, mcnemar_exact, paired_bootstrap, paired_passes

DATA = np.array([0.91, 0.85, 0.97, 0.78, 0.88, 0.93, 0.81, 0.95, 0.87, 0.9, 0.76, 0.99, 0.84, 0.92, 0.89, 0.8])


def test_bootstrap_interval_matches_scipy_and_the_normal_interval():
    low, high = bootstrap_ci(DATA, resamples=20000)
    ref = sps.bootstrap((DATA,), np.mean, method="percentile", n_resamples=20000, random_state=1)
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.004)
    half = 1.96 * DATA.std(ddof=0) / math.sqrt(len(DATA))  # the interval a large-sample bootstrap approaches
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert low < DATA.mean() < high
    assert bootstrap_ci([0.5]) == (0.5, 0.5) and all(math.isnan(v) for v in bootstrap_ci([math.nan]))
    assert bootstrap_ci(DATA) == bootstrap_ci(DATA)  # seeded: a report is reproducible


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (6, 0), (3, 9), (10, 10), (25, 12), (0, 40)])
def test_exact_mcnemar_is_the_binomial_test_of_the_discordant_pairs(b, c):
    expected = 1.0 if b + c == 0 else sps.binomtest(c, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_paired_differences():
    same = paired_bootstrap(DATA, DATA)
    assert (same.mean, same.low, same.high, same.p_value, same.significant) == (0.0, 0.0, 0.0, 1.0, False)
    worse = paired_bootstrap(DATA, DATA - 0.05 - 0.01 * np.arange(len(DATA)) / len(DATA))
    assert worse.significant and worse.high < 0 and worse.p_value < 0.01
    noisy = paired_bootstrap(DATA, DATA + np.resize([0.02, -0.02], len(DATA)))
    assert not noisy.significant and noisy.low < 0 < noisy.high
    passes = paired_passes([1] * 6 + [0, 1], [0] * 6 + [0, 1])
    assert passes.test == "exact McNemar" and passes.p_value == pytest.approx(2 / 2**6)
    assert passes.significant and passes.mean == pytest.approx(-6 / 8)
