"""The uncertainty on a board: a 95% interval on each ranked figure, published-vs-ours tests,
and which of the top rows are distinguishable from #1 (methods and reasons: harness.stats).

- One trial of a classification task: Wilson intervals from its correct count on the split
  (the test scoring stores `n`; the best epoch's validation stores `val_n`).
- A configuration over seeds (a grouped row): the t interval of the per-seed figures (2 seeds
  or more; with one, that trial's own interval).
- A figure with no binomial form (image outputs' pixel accuracy, PSNR): no interval unless the
  store holds per-image scores; "-" rather than a made-up one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from harness import stats
from harness.results.boards import Intervals, LeaderRow, Significance
from harness.store.rows import EpochRow

NO_INTERVAL: Intervals = {
    "best_ci95_low": None,
    "best_ci95_high": None,
    "ci95_low": None,
    "ci95_high": None,
    "ci95_method": None,
}
MIN_SEEDS_TO_COMPARE = 3
SeedValues = Literal["seed_values", "seed_test_values"]  # a row's per-seed figures: validation, test


def counts(row: Mapping[str, Any], epochs: Sequence[EpochRow], key: str) -> tuple[int, int] | None:
    """(correct, n) behind a classifier trial's accuracy `key` ("test_acc" from its test scoring,
    "val_acc" from its best epoch), or None where the store kept no count (older stores)."""
    if key == "test_acc":
        figures = json.loads(row.get("test_json") or "{}")
        acc, n = figures.get("acc"), figures.get("n")
    elif key == "val_acc":
        best = [e for e in epochs if e["epoch"] == row.get("best_epoch")]
        extra = json.loads(best[0].get("extra_json") or "{}") if best else {}
        acc, n = (best[0]["val_acc"], extra.get("val_n")) if best else (None, None)
    else:
        return None
    if acc is None or not n:
        return None
    return round(acc * n), int(n)


def _wilson(row: Mapping[str, Any], epochs: Sequence[EpochRow], key: str) -> stats.Interval | None:
    found = counts(row, epochs, key)
    return stats.wilson(*found) if found else None


def trial_intervals(
    row: Mapping[str, Any], epochs: Sequence[EpochRow], *, metric: str, classification: bool
) -> Intervals:
    """A single trial's intervals: the ranked validation figure (`best_ci95_*`) and the test
    figure (`ci95_*`)."""
    if not classification:  # no binomial form: the test scoring's bootstrap over test images, if any
        bounds = json.loads(row.get("test_json") or "{}").get("ci95", {}).get(metric.removeprefix("val_"))
        return _fields(None, stats.Interval(bounds[0], bounds[1], "bootstrap") if bounds else None, "bootstrap")
    if not metric.endswith("acc"):
        return NO_INTERVAL
    val, test = _wilson(row, epochs, metric), _wilson(row, epochs, "test_" + metric.removeprefix("val_"))
    return _fields(val, test, "wilson")


def group_intervals(members: Sequence[Mapping[str, Any]], *, proportion: bool) -> Intervals:
    """A configuration's intervals over its seeds (`members`: the trials that trained normally,
    best first): t intervals from 2 seeds on, else the one trial's own. A `proportion` (an
    accuracy) is clipped to [0, 1]: the t interval knows no bounds."""
    limits = (0.0, 1.0) if proportion else (-math.inf, math.inf)
    val = stats.t_interval([m["best_metric"] for m in members if m["best_metric"] is not None], limits=limits)
    test = stats.t_interval([m["test_metric"] for m in members if m["test_metric"] is not None], limits=limits)
    if proportion and ((val and val.low == val.high) or (test and test.low == test.high)):
        # Seeds that agree to the image (a small split's accuracies are coarse) give the t interval
        # zero width, as if the figure were exact: the images' own uncertainty is then the honest
        # one: the best seed's own Wilson interval.
        val, test = _own(members, val, "best_ci95_low"), _own(members, test, "ci95_low")
        method = {i.method for i in (val, test) if i}
        return _fields(val, test, "t" if method == {"t"} else "wilson" if method == {"wilson"} else "t, wilson")
    if val is None and test is None:  # one seed: its own intervals
        return cast(Intervals, {k: members[0].get(k) for k in NO_INTERVAL}) if members else NO_INTERVAL
    return _fields(val, test, "t")


def _own(members: Sequence[Mapping[str, Any]], interval: stats.Interval | None, low: str) -> stats.Interval | None:
    """A zero-width t interval replaced by the best seed's own (Wilson) interval, where it has one."""
    if interval is None or interval.low < interval.high or members[0].get(low) is None:
        return interval
    return stats.Interval(members[0][low], members[0][low.replace("low", "high")], "wilson")


def _fields(val: stats.Interval | None, test: stats.Interval | None, method: str) -> Intervals:
    return {
        "best_ci95_low": val.low if val else None,
        "best_ci95_high": val.high if val else None,
        "ci95_low": test.low if test else None,
        "ci95_high": test.high if test else None,
        "ci95_method": method if val or test else None,
    }


def against_published(
    row: Mapping[str, Any] | None, epochs: Sequence[EpochRow], *, score: str, published: float | None
) -> Significance:
    """Ours (the matching trial) against a published accuracy: the exact binomial test of our
    correct count on the split the report measured (test or validation)."""
    found = counts(row, epochs, score) if row is not None and published is not None else None
    if found is None or published is None:
        return {"p_value": None, "significance": None}
    p = stats.binomial_p(*found, published)
    return {"p_value": p, "significance": stats.verdict(p, found[0] / found[1], published)}


def compare_top(rows: list[LeaderRow], *, top: int, values: SeedValues = "seed_values") -> None:
    """Mark rows 2..`top` against #1 (in place): Welch's t test over their per-seed figures
    (`values`), Bonferroni-corrected for the comparisons made; only rows of 3 seeds or more, #1
    included. Each row gets `vs_best` ("#1", "below #1", "above #1", "indistinguishable",
    or None when not compared) and `vs_best_p` (the corrected p value)."""
    for row in rows:
        row["vs_best"], row["vs_best_p"] = None, None
    if not rows or len(rows[0].get(values) or []) < MIN_SEEDS_TO_COMPARE:
        return
    best = rows[0]
    best["vs_best"] = "#1"
    compared = [r for r in rows[1:top] if len(r.get(values) or []) >= MIN_SEEDS_TO_COMPARE]
    for row in compared:
        p = min(1.0, stats.welch_p(row[values], best[values]) * len(compared))
        word = stats.verdict(p, sum(row[values]) / len(row[values]), sum(best[values]) / len(best[values]))
        row["vs_best"] = f"{word} #1" if word != "indistinguishable" else word
        row["vs_best_p"] = p
