"""The few statistics the benchmark reports: nearest-rank percentiles, medians and ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with few samples it is an actual observation, never an interpolation."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    # The smallest rank with at least `fraction` of the samples at or below it; the epsilon keeps float
    # error (0.07 * 100 = 7.000000000000001) from pushing an exact rank up by one.
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values (a side that was not measured), so tables print "n/a"."""
    return statistics.median(values) if values else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, or NaN when either is missing or the denominator is zero."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def format_ratio(numerator: float, denominator: float) -> str:
    """A ratio as the tables print it: 0.42 and a times sign, `1/345` when tiny, `n/a` when it cannot be formed."""
    value = ratio(numerator, denominator)
    if math.isnan(value):
        return "n/a"
    # Tiny ratios read better as "1/N" than in scientific notation.
    return f"1/{1 / value:,.0f}" if 0 < value < 0.01 else f"{value:.3g}×"
