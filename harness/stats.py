"""Uncertainty and significance for the numbers the boards rank (numpy and scipy; no torch).

Which method, and why:
- One trial's accuracy on a test split of n images: a **Wilson score interval** for the
  binomial proportion. Each test image is one Bernoulli draw (right or wrong); Wilson keeps its
  coverage near 95% even close to 0% or 100%, where the textbook normal interval does not.
- Several seeds of one configuration: the mean with a **Student t interval** (n - 1 degrees of
  freedom). With a handful of seeds a bootstrap over seeds underestimates the spread (it can
  only resample the few values it has); the t interval is exact for normal draws and the
  usual choice below ten seeds.
- A per-image score (PSNR, pixel accuracy of an image model) has no binomial form: a
  percentile **bootstrap** over the test images.
- Ours against a published accuracy: an exact two-sided **binomial test** of our correct count
  against the published proportion (the report's own uncertainty is unknown and not counted).
- Two configurations over seeds: **Welch's t test** (unequal variances) on their per-seed
  figures, with a **Bonferroni** correction for the number of comparisons made at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported where it is used: `harness --help` and the torch-free commands that
# import the leaderboard's constants need none of it (it takes a third of a second).

LEVEL = 0.95
ALPHA = 0.05
BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "wilson", "t", "bootstrap": how it was computed, printed beside it


def wilson(correct: int, n: int, *, level: float = LEVEL) -> Interval:
    """The Wilson score interval of a proportion `correct` / `n`."""
    from scipy import stats as sps

    if n <= 0:
        raise ValueError("a proportion of 0 draws has no interval")
    z = float(sps.norm.ppf(0.5 + level / 2))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half), "wilson")


def t_interval(
    values: Sequence[float], *, level: float = LEVEL, limits: tuple[float, float] = (-math.inf, math.inf)
) -> Interval | None:
    """The t interval of the mean of `values` (seeds), clipped to `limits` (an accuracy lies in
    [0, 1]); None below two values."""
    from scipy import stats as sps

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    half = float(sps.t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(max(limits[0], float(x.mean()) - half), min(limits[1], float(x.mean()) + half), "t")


def bootstrap(
    values: Sequence[float] | np.ndarray, *, level: float = LEVEL, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> Interval:
    """The percentile bootstrap interval of the mean of per-image `values` (seeded: the same
    values give the same interval)."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    return Interval(float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)), "bootstrap")


def binomial_p(correct: int, n: int, p0: float) -> float:
    """Two-sided exact binomial test: how likely `correct` of `n` (or further from n * p0) is if
    the true accuracy were `p0`."""
    from scipy import stats as sps

    return float(sps.binomtest(correct, n, min(max(p0, 0.0), 1.0)).pvalue)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch's t test between two groups of per-seed figures (each of 2 or more)."""
    from scipy import stats as sps

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.std(ddof=1) == 0 and y.std(ddof=1) == 0:  # no spread at all: equal means or certainly not
        return 1.0 if x.mean() == y.mean() else 0.0
    with warnings.catch_warnings():  # scipy warns of precision loss when one side's seeds agree exactly
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(sps.ttest_ind(x, y, equal_var=False).pvalue)


def verdict(p_value: float, ours: float, theirs: float, *, alpha: float = ALPHA) -> str:
    """ "above", "below" or "indistinguishable": ours against theirs at level `alpha`."""
    if p_value >= alpha:
        return "indistinguishable"
    return "above" if ours > theirs else "below"
