"""Intervals, McNemar and the paired difference against scipy.stats and a published example."""

import math

import numpy as np
import pytest
from scipy import special, stats

from medadv_desktop.engine.metrics.intervals import (
    CLOPPER_PEARSON, WILSON, beta_ppf, betainc, clopper_pearson_interval, mcnemar_exact, newcombe_paired_interval,
    paired_caution, paired_comparison, paired_comparison_counts, proportion, small_sample_caution, wilson_interval)

COUNTS = ([(k, n) for n in (1, 2, 3, 5, 10, 24, 30, 100, 300, 1000) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]
          + [(0, 100_000), (1, 1_000_000), (999_999, 1_000_000), (500_000, 1_000_000), (3, 10_000_000)])
LEVELS = (0.95, 0.90, 0.99, 0.5)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b != 0 else abs(a)


@pytest.mark.parametrize("confidence", LEVELS)
def test_clopper_pearson_matches_scipy_beta_quantiles(confidence):
    alpha = 1 - confidence
    for k, n in COUNTS:
        low, high = clopper_pearson_interval(k, n, confidence)
        ref_low = stats.beta.ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
        ref_high = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
        tol = 1e-10 if n <= 1000 else 1e-8     # log-gamma of large arguments limits the rest
        assert _rel(low, ref_low) < tol, (k, n, low, ref_low)
        assert _rel(high, ref_high) < tol, (k, n, high, ref_high)
        # and binomtest's own exact interval (its root finder is looser at the extremes)
        ref = stats.binomtest(k, n).proportion_ci(confidence, method="exact")
        assert low == pytest.approx(ref.low, rel=1e-4, abs=1e-12)
        assert high == pytest.approx(ref.high, rel=1e-4, abs=1e-12)


@pytest.mark.parametrize("confidence", LEVELS)
def test_wilson_matches_scipy(confidence):
    for k, n in COUNTS:
        low, high = wilson_interval(k, n, confidence)
        ref = stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
        assert low == pytest.approx(ref.low, abs=1e-12), (k, n)
        assert high == pytest.approx(ref.high, abs=1e-12), (k, n)


def test_edges_and_n_zero():
    assert clopper_pearson_interval(0, 0) == (0.0, 1.0) and wilson_interval(0, 0) == (0.0, 1.0)
    p = proportion(0, 0)
    assert p.value is None and (p.low, p.high) == (0.0, 1.0) and p.k == 0 and p.n == 0
    assert clopper_pearson_interval(0, 7)[0] == 0.0 and clopper_pearson_interval(7, 7)[1] == 1.0
    assert wilson_interval(0, 7)[0] == 0.0 and wilson_interval(7, 7)[1] == 1.0
    # one of one: the lower bound is alpha/2 exactly (0.025 ** (1/1))
    assert clopper_pearson_interval(1, 1)[0] == pytest.approx(0.025, rel=1e-12)
    # the rule of three: 0 of n -> upper bound about 3/n (exact: 1 - 0.025 ** (1/n))
    assert clopper_pearson_interval(0, 300)[1] == pytest.approx(1 - 0.025 ** (1 / 300), rel=1e-10)
    for bad in [(-1, 3), (4, 3), (1.5, 3), (1, -2)]:
        with pytest.raises(ValueError):
            clopper_pearson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 3, confidence=1.0)
    with pytest.raises(ValueError):
        proportion(1, 3, method="wald")


def test_proportion_record_and_ordering():
    for method in (CLOPPER_PEARSON, WILSON):
        p = proportion(56, 300, method=method)      # the 18.7 % of 300
        assert p.value == pytest.approx(56 / 300)
        assert p.low < p.value < p.high
        assert p.method == method and p.confidence == 0.95
    cp, wi = proportion(56, 300), proportion(56, 300, method=WILSON)
    assert cp.width > wi.width            # exact is the conservative one
    assert 0.08 < cp.width < 0.10         # about +-4.5 points, as the issue says


def test_beta_functions_against_scipy():
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = (float(v) for v in rng.uniform(0.2, 60, 2))
        x = float(rng.uniform(0, 1))
        assert betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-10, abs=1e-14)
        q = float(rng.uniform(1e-6, 1 - 1e-6))
        assert beta_ppf(q, a, b) == pytest.approx(stats.beta.ppf(q, a, b), rel=1e-8, abs=1e-14)


def test_mcnemar_matches_binomtest_on_discordant_pairs():
    for b, c in [(0, 0), (0, 1), (1, 0), (3, 10), (10, 3), (10, 10), (0, 25), (7, 8), (100, 130),
                 (5000, 5300), (1, 40), (2, 2000)]:
        ref = stats.binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
        assert mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-9, abs=1e-300), (b, c)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_constructed_before_after_pair():
    """24 samples: 14 right both times, 2 lost, 7 gained, 1 wrong both times."""
    before = [True] * 14 + [True] * 2 + [False] * 7 + [False]
    after = [True] * 14 + [False] * 2 + [True] * 7 + [False]
    cmp = paired_comparison(before, after)
    assert (cmp.n, cmp.both, cmp.only_before, cmp.only_after, cmp.neither) == (24, 14, 2, 7, 1)
    assert cmp.before.k == 16 and cmp.after.k == 21
    assert cmp.difference == pytest.approx(5 / 24)
    assert cmp.p_value == pytest.approx(stats.binomtest(2, 9, 0.5).pvalue, rel=1e-12)   # 0.1797
    assert cmp.low < cmp.difference < cmp.high
    assert cmp.low < 0 < cmp.high           # 9 discordant pairs: not enough to rule out chance
    text = cmp.caution()
    assert "n = 24" in text and "may be chance" in text and "McNemar" in text
    # a clear change on many samples: no caution
    big = paired_comparison_counts(200, 5, 60, 35)
    assert big.p_value < 1e-10 and big.low > 0 and big.caution() is None


def test_newcombe_paired_published_example():
    """Cavo et al. 2012 (Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables,
    chapter 8): table [[59, 6], [16, 80]], Newcombe square-and-add 95 % CI -0.1186 to -0.0046."""
    # rows = first measurement, columns = second; p1 = row total, p2 = column total, estimate p1 - p2.
    # Ours is after - before with after = rows: both=59, only_after=6, only_before=16, neither=80.
    low, high = newcombe_paired_interval(59, 16, 6, 80)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)
    cmp = paired_comparison_counts(59, 16, 6, 80)
    assert round(cmp.difference, 4) == -0.0621


def test_newcombe_paired_coverage_and_bounds():
    rng = np.random.default_rng(1)
    # properties on many tables: inside [-1, 1], contains the estimate, mirror symmetry
    for _ in range(500):
        a, b, c, d = (int(v) for v in rng.integers(0, 30, 4))
        low, high = newcombe_paired_interval(a, b, c, d)
        n = a + b + c + d
        if n == 0:
            assert (low, high) == (-1.0, 1.0)
            continue
        diff = (c - b) / n
        assert -1.0 <= low <= diff <= high <= 1.0
        mlow, mhigh = newcombe_paired_interval(a, c, b, d)
        assert mlow == pytest.approx(-high) and mhigh == pytest.approx(-low)
    # coverage by simulation (seeded): close to 95 % for n = 40
    probs = np.array([0.55, 0.10, 0.20, 0.15])     # both, only_before, only_after, neither
    truth = probs[2] - probs[1]
    tables = rng.multinomial(40, probs, size=2000)
    hits = sum(lo <= truth <= hi for lo, hi in (newcombe_paired_interval(*map(int, t)) for t in tables))
    assert 0.92 <= hits / len(tables) <= 0.99


def test_small_sample_cautions():
    assert small_sample_caution(0).startswith("No samples")
    low, high = clopper_pearson_interval(5, 8)
    text = small_sample_caution(8, low, high, subject="robust sensitivity of lesion")
    assert "Very few samples (n = 8)" in text and "robust sensitivity of lesion" in text and "95 % interval" in text
    low, high = clopper_pearson_interval(12, 24)
    assert small_sample_caution(24, low, high).startswith("Few samples (n = 24)")
    low, high = clopper_pearson_interval(20, 40)       # n >= 30 but +-16 points: wide
    assert small_sample_caution(40, low, high).startswith("Wide uncertainty")
    low, high = clopper_pearson_interval(150, 300)
    assert small_sample_caution(300, low, high) is None
    assert proportion(150, 300).caution() is None
    assert proportion(3, 5).caution("clean accuracy").startswith("Very few samples (n = 5): clean accuracy")
    assert paired_caution(paired_comparison([], [])).startswith("No paired samples")
    assert not math.isnan(proportion(3, 5).width)


def test_the_interval_module_loads_without_torch():
    """engine.metrics' package names load lazily: the statistics (intervals, per-class rates) need no torch,
    so a report script or the GUI's result views do not pay torch's import for them."""
    import subprocess
    import sys

    code = ("import sys; import medadv_desktop.engine.metrics.intervals, medadv_desktop.engine.metrics.per_class; "
            "from medadv_desktop.engine.metrics import wilson_interval; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
