"""Uncertainty of rates: confidence intervals, the exact McNemar test, small-sample cautions.

Every rate MedAdv reports (clean and robust accuracy, attack success rate,
sensitivity, specificity) is a proportion k of n. This module gives it an
interval and says in words when n is too small to lean on. Pure Python
(``math`` and ``statistics`` only): no scipy at run time; the tests check every
function against ``scipy.stats``.

Definitions (confidence level 1 - alpha, default 95 %):

* **Clopper-Pearson** (exact): the interval of all p for which k is not in
  either alpha/2 tail of Binomial(n, p); lower = Beta quantile alpha/2 with
  parameters (k, n - k + 1), upper = Beta quantile 1 - alpha/2 with (k + 1,
  n - k); 0 when k = 0, 1 when k = n. Coverage is never below the nominal
  level (it is conservative), which is why it is MedAdv's default: a
  robustness figure must never look better than the data allow.
* **Wilson** (score): centre (k + z^2/2) / (n + z^2), half-width
  z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4), z the normal quantile
  1 - alpha/2. Narrower, coverage close to nominal on average.
* n = 0: the interval is [0, 1] and the value is None (nothing was measured).
* **Exact McNemar test** for paired outcomes (the same samples before and
  after, e.g. the original and the adversarially trained model): of the
  discordant pairs b (right before, wrong after) and c (wrong before, right
  after), under "no change" each is Binomial(b + c, 1/2); the two-sided
  p-value is min(1, 2 P(X <= min(b, c))). b + c = 0 gives p = 1.
* **Interval of a paired difference** (after - before): Newcombe's hybrid
  score method for paired data (Newcombe 1998, Statistics in Medicine
  17:2635-2650, method 10; "square-and-add" in Fagerland, Lydersen and
  Laake 2017): the Wilson intervals of both rates combined with the
  correlation estimate phi of the paired table.

The Beta quantile is computed here: the regularised incomplete beta function
by its continued fraction (modified Lentz), inverted by Newton steps kept
inside a shrinking bisection bracket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from medadv_desktop.errors import InvalidArgumentError

CLOPPER_PEARSON = "clopper-pearson"
WILSON = "wilson"
METHODS = (CLOPPER_PEARSON, WILSON)
DEFAULT_METHOD = CLOPPER_PEARSON
DEFAULT_CONFIDENCE = 0.95

# Small-sample cautions (see small_sample_caution): below SMALL_N samples a rate is
# "uncertain", below VERY_SMALL_N "a rough indication only"; an interval wider than
# WIDE_INTERVAL (as a fraction, 0.20 = 20 percentage points) is called out at any n.
VERY_SMALL_N = 10
SMALL_N = 30
WIDE_INTERVAL = 0.20


# ---------------------------------------------------------------- special functions

def _check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0 or math.isnan(c):
        raise InvalidArgumentError(f"confidence must be in (0, 1), not {confidence!r}")
    return c


def _check_counts(k: int, n: int) -> tuple[int, int]:
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise InvalidArgumentError(f"counts must be whole numbers, not k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise InvalidArgumentError(f"need 0 <= k <= n, not k={k}, n={n}")
    return k, n


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        # even step
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        # odd step
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) (the Beta(a, b) CDF at x), a, b > 0."""
    if a <= 0 or b <= 0:
        raise InvalidArgumentError(f"Beta parameters must be positive, not a={a}, b={b}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, math.exp(log_front) * _beta_continued_fraction(a, b, x) / a)
    return max(0.0, 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b)


def beta_ppf(p: float, a: float, b: float) -> float:
    """Quantile of Beta(a, b): the x with I_x(a, b) = p (Newton inside a bisection bracket)."""
    if not 0.0 <= p <= 1.0:
        raise InvalidArgumentError(f"probability must be in [0, 1], not {p}")
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    lbeta = _log_beta(a, b)
    lo, hi = 0.0, 1.0
    x = a / (a + b)
    for _ in range(1000):
        f = betainc(a, b, x) - p
        if f == 0.0:
            return x
        if f < 0.0:
            lo = x
        else:
            hi = x
        log_pdf = (a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - lbeta
        pdf = math.exp(log_pdf) if log_pdf < 700.0 else 0.0
        new = x - f / pdf if pdf > 0.0 else math.nan
        if not lo < new < hi:                     # Newton left the bracket (or pdf under/overflow)
            new = 0.5 * (lo + hi)
        if abs(new - x) <= 1e-15 * new or hi - lo <= 1e-15 * hi:
            return new
        x = new
    return x


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + 0.5 * confidence)


# ---------------------------------------------------------------- intervals of a proportion

def clopper_pearson_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of k successes in n trials; (0, 1) when n = 0."""
    k, n = _check_counts(k, n)
    alpha = 1.0 - _check_confidence(confidence)
    if n == 0:
        return 0.0, 1.0
    low = 0.0 if k == 0 else beta_ppf(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else 1.0 - beta_ppf(alpha / 2, n - k, k + 1)
    return low, high


def wilson_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) of k of n; (0, 1) when n = 0."""
    k, n = _check_counts(k, n)
    z = _z(_check_confidence(confidence))
    if n == 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (k + z2 / 2.0) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4.0)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def proportion_interval(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE,
                        method: str = DEFAULT_METHOD) -> tuple[float, float]:
    """The interval of k of n by ``method`` (``"clopper-pearson"`` or ``"wilson"``)."""
    if method == CLOPPER_PEARSON:
        return clopper_pearson_interval(k, n, confidence)
    if method == WILSON:
        return wilson_interval(k, n, confidence)
    raise InvalidArgumentError(f"unknown interval method {method!r} (known: {', '.join(METHODS)})")


@dataclass(frozen=True)
class Proportion:
    """A rate k / n with its interval. ``value`` is None when n = 0 (then low, high = 0, 1)."""

    k: int
    n: int
    value: float | None
    low: float
    high: float
    method: str = DEFAULT_METHOD
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def width(self) -> float:
        return self.high - self.low

    def caution(self, subject: str = "this rate") -> str | None:
        """The small-sample caution a report must print beside this rate (None when none is due)."""
        return small_sample_caution(self.n, self.low, self.high, confidence=self.confidence, subject=subject)


def proportion(k: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE,
               method: str = DEFAULT_METHOD) -> Proportion:
    """k of n as a :class:`Proportion` with its ``method`` interval at ``confidence``."""
    k, n = _check_counts(k, n)
    low, high = proportion_interval(k, n, confidence, method)
    return Proportion(k=k, n=n, value=(k / n if n else None), low=low, high=high, method=method,
                      confidence=float(confidence))


# ---------------------------------------------------------------- paired before/after

def binomial_cdf_half(m: int, n: int) -> float:
    """P(X <= m) for X ~ Binomial(n, 1/2)."""
    if m < 0:
        return 0.0
    if m >= n:
        return 1.0
    # P(X <= m) = I_{1/2}(n - m, m + 1)
    return betainc(n - m, m + 1, 0.5)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c (1.0 when b + c = 0)."""
    b, _ = _check_counts(b, b)
    c, _ = _check_counts(c, c)
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_cdf_half(min(b, c), n))


def newcombe_paired_interval(both: int, only_before: int, only_after: int, neither: int,
                             confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Interval of (after rate - before rate) on paired outcomes (Newcombe's hybrid score method).

    ``both``: right before and after; ``only_before``: right before, wrong after;
    ``only_after``: wrong before, right after; ``neither``: wrong both times.
    (-1, 1) when there are no pairs.
    """
    counts = (both, only_before, only_after, neither)
    for v in counts:
        _check_counts(v, v)
    a, b, c, d = (int(v) for v in counts)
    n = a + b + c + d
    if n == 0:
        return -1.0, 1.0
    after_k, before_k = a + c, a + b
    p1, p2 = after_k / n, before_k / n
    l1, u1 = wilson_interval(after_k, n, confidence)
    l2, u2 = wilson_interval(before_k, n, confidence)
    margins = (a + c) * (b + d) * (a + b) * (c + d)
    phi = 0.0
    if margins > 0:
        cross = a * d - b * c
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    diff = p1 - p2
    dl = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    du = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    return max(-1.0, diff - math.sqrt(max(dl, 0.0))), min(1.0, diff + math.sqrt(max(du, 0.0)))


@dataclass(frozen=True)
class PairedComparison:
    """Before/after outcomes of the same samples: the 2x2 counts, both rates, the change with its
    interval (Newcombe) and the exact McNemar p-value. ``difference`` = after - before."""

    n: int
    both: int            # right before and after
    only_before: int     # right before, wrong after
    only_after: int      # wrong before, right after
    neither: int
    before: Proportion
    after: Proportion
    difference: float | None
    low: float
    high: float
    p_value: float
    confidence: float = DEFAULT_CONFIDENCE
    method: str = "newcombe-paired"

    def caution(self, subject: str = "the change") -> str | None:
        return paired_caution(self, subject=subject)


def paired_comparison_counts(both: int, only_before: int, only_after: int, neither: int, *,
                             confidence: float = DEFAULT_CONFIDENCE,
                             method: str = DEFAULT_METHOD) -> PairedComparison:
    """A :class:`PairedComparison` from the four counts of the paired table (``method``: the
    intervals of the two rates themselves)."""
    low, high = newcombe_paired_interval(both, only_before, only_after, neither, confidence)
    n = both + only_before + only_after + neither
    return PairedComparison(
        n=n, both=both, only_before=only_before, only_after=only_after, neither=neither,
        before=proportion(both + only_before, n, confidence=confidence, method=method),
        after=proportion(both + only_after, n, confidence=confidence, method=method),
        difference=((only_after - only_before) / n if n else None), low=low, high=high,
        p_value=mcnemar_exact(only_before, only_after), confidence=float(confidence))


def paired_comparison(before: Sequence[bool], after: Sequence[bool], *,
                      confidence: float = DEFAULT_CONFIDENCE,
                      method: str = DEFAULT_METHOD) -> PairedComparison:
    """Compare per-sample outcomes (True = right) of the same samples, in the same order."""
    if len(before) != len(after):
        raise InvalidArgumentError(f"paired outcomes need the same samples: {len(before)} before, {len(after)} after")
    a = b = c = d = 0
    for x, y in zip(before, after, strict=True):
        if x and y:
            a += 1
        elif x:
            b += 1
        elif y:
            c += 1
        else:
            d += 1
    return paired_comparison_counts(a, b, c, d, confidence=confidence, method=method)


# ---------------------------------------------------------------- cautions in words

def _pct(v: float) -> str:
    return f"{100.0 * v:.0f} %"


def _points(v: float) -> str:
    return f"{100.0 * v:+.0f}"


def _conf(confidence: float) -> str:
    return f"{100.0 * confidence:g} %"


def small_sample_caution(n: int | None, low: float | None = None, high: float | None = None, *,
                         confidence: float = DEFAULT_CONFIDENCE, subject: str = "this rate") -> str | None:
    """The caution a report must print beside a rate measured on ``n`` samples with interval
    [low, high], or None when none is due.

    * n = 0: nothing was measured;
    * n < VERY_SMALL_N (10): a rough indication only, not a basis for a decision;
    * n < SMALL_N (30): uncertain;
    * otherwise, an interval wider than WIDE_INTERVAL (20 percentage points): more samples needed.

    The interval is quoted when given. ``subject`` names the rate ("robust sensitivity of lesion").
    """
    interval = (low, high) if low is not None and high is not None else None
    where = ""
    if interval is not None:
        where = (f" ({_conf(confidence)} interval {_pct(interval[0])} to {_pct(interval[1])}, "
                 f"{100.0 * (interval[1] - interval[0]):.0f} points wide)")
    if n is not None and n <= 0:
        return f"No samples: {subject} cannot be measured."
    if n is not None and n < VERY_SMALL_N:
        return (f"Very few samples (n = {n}): {subject} is a rough indication only{where}; "
                f"do not base a decision on it.")
    if n is not None and n < SMALL_N:
        return f"Few samples (n = {n}): {subject} is uncertain{where}."
    if interval is not None and interval[1] - interval[0] > WIDE_INTERVAL:
        count = f"n = {n}, " if n is not None else ""
        return (f"Wide uncertainty ({count}{_conf(confidence)} interval {_pct(interval[0])} to "
                f"{_pct(interval[1])}): {subject} needs more samples for a firm figure.")
    return None


def paired_caution(cmp: PairedComparison, *, subject: str = "the change") -> str | None:
    """The caution for a before/after change: few pairs, and/or a change within the uncertainty
    (its interval contains 0 or McNemar's p >= 1 - confidence). None when none is due."""
    if cmp.n == 0 or cmp.difference is None:
        return f"No paired samples: {subject} cannot be measured."
    parts = []
    if cmp.n < SMALL_N:
        parts.append(f"Few samples (n = {cmp.n})")
    alpha = 1.0 - cmp.confidence
    if cmp.low <= 0.0 <= cmp.high or cmp.p_value >= alpha:
        parts.append(f"{subject} of {_points(cmp.difference)} points is within the uncertainty "
                     f"({_conf(cmp.confidence)} interval {_points(cmp.low)} to {_points(cmp.high)} points, "
                     f"exact McNemar p = {cmp.p_value:.2g}) and may be chance")
    if not parts:
        return None
    text = ": ".join(parts) if len(parts) == 2 else parts[0]
    return text[0].upper() + text[1:] + "."
