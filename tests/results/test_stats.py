"""The statistics themselves, on simulated data with a known truth (fixed seeds, 1,000 draws
each unless said): intervals cover the truth about 95% of the time, tests reject about 5% of
the time when there is nothing to find, and find a real difference."""

from __future__ import annotations

import numpy as np
import pytest

from harness import stats

DRAWS = 1000


def test_wilson_covers_p_09_at_n_1000():
    rng = np.random.default_rng(0)
    hits = 0
    for correct in rng.binomial(1000, 0.9, size=DRAWS):
        ci = stats.wilson(int(correct), 1000)
        hits += ci.low <= 0.9 <= ci.high
    assert 0.93 <= hits / DRAWS <= 0.97


def test_wilson_stays_inside_0_1_at_the_edges():
    assert stats.wilson(0, 20).low == 0.0 and stats.wilson(20, 20).high == 1.0
    assert 0 < stats.wilson(20, 20).low < 1  # never a zero-width interval at 100%


def test_t_interval_covers_the_mean_of_5_normal_draws():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(DRAWS):
        ci = stats.t_interval(rng.normal(0.75, 0.01, size=5))
        assert ci is not None
        hits += ci.low <= 0.75 <= ci.high
    assert 0.93 <= hits / DRAWS <= 0.97
    assert stats.t_interval([0.7]) is None  # one seed: no interval


def test_bootstrap_covers_the_mean_of_per_image_scores():
    """200 draws of 200 skewed per-image scores (PSNR-like): the percentile bootstrap's coverage
    is near 95% (wider bounds: 200 draws, and the bootstrap is approximate at this n)."""
    rng = np.random.default_rng(2)
    hits = 0
    for i in range(200):
        values = 20 + rng.gamma(2.0, 2.0, size=200)  # true mean 24
        ci = stats.bootstrap(values, draws=1000, seed=i)
        hits += ci.low <= 24 <= ci.high
    assert 0.90 <= hits / 200 <= 0.99


def test_welch_rejects_about_5_percent_when_two_configurations_share_a_distribution():
    """n = 5 seeds each, std 1 point, the same mean: rejections at alpha 0.05 in 2-8% of draws."""
    rng = np.random.default_rng(3)
    rejections = sum(
        stats.welch_p(rng.normal(75, 1, size=5), rng.normal(75, 1, size=5)) < stats.ALPHA for _ in range(DRAWS)
    )
    assert 0.02 <= rejections / DRAWS <= 0.08


def test_welch_detects_a_2_point_difference_at_that_spread():
    rng = np.random.default_rng(4)
    found = sum(stats.welch_p(rng.normal(77, 1, size=5), rng.normal(75, 1, size=5)) < stats.ALPHA for _ in range(DRAWS))
    assert found / DRAWS > 0.6  # in most draws (about 0.7 for Welch at n = 5, d = 2)


def test_binomial_test_against_the_true_accuracy_rejects_rarely_and_finds_a_gap():
    rng = np.random.default_rng(5)
    null = sum(stats.binomial_p(int(k), 1000, 0.9) < stats.ALPHA for k in rng.binomial(1000, 0.9, size=DRAWS))
    assert null / DRAWS <= 0.06  # exact, so at most about alpha (it is conservative)
    gap = sum(stats.binomial_p(int(k), 1000, 0.9) < stats.ALPHA for k in rng.binomial(1000, 0.87, size=DRAWS))
    assert gap / DRAWS > 0.75  # 3 points below at n = 1,000: found in about 83% of draws


@pytest.mark.parametrize(
    ("p", "ours", "theirs", "word"),
    [(0.2, 0.7, 0.8, "indistinguishable"), (0.01, 0.7, 0.8, "below"), (0.01, 0.9, 0.8, "above")],
)
def test_verdict_words(p, ours, theirs, word):
    assert stats.verdict(p, ours, theirs) == word


def test_ours_against_published_uses_the_split_the_report_measured():
    """The matching trial's correct count on the test split (its test scoring) or on the
    validation split (its best epoch), against the published accuracy."""
    from harness.results.intervals import against_published, counts

    row = {"test_json": '{"acc": 0.7, "n": 1000, "epoch": 2}', "best_epoch": 2}
    epochs = [
        {"epoch": 1, "val_acc": 0.5, "extra_json": '{"val_n": 400}'},
        {"epoch": 2, "val_acc": 0.75, "extra_json": '{"val_n": 400}'},
    ]
    assert counts(row, epochs, "test_acc") == (700, 1000) and counts(row, epochs, "val_acc") == (300, 400)
    assert against_published(row, epochs, score="test_acc", published=0.8)["significance"] == "below"
    assert against_published(row, epochs, score="test_acc", published=0.705)["significance"] == "indistinguishable"
    assert against_published(row, epochs, score="val_acc", published=0.70)["significance"] == "above"
    # no count recorded (an older store, an image score): not tested, never a made-up verdict
    assert against_published({"test_json": '{"acc": 0.7}'}, [], score="test_acc", published=0.8)["p_value"] is None
    assert against_published(row, epochs, score="val_keras_acc", published=0.8)["significance"] is None


def test_seeds_that_agree_exactly_keep_the_images_uncertainty():
    """Three seeds with the same accuracy on a small split would give a zero-width t interval:
    the group shows its best seed's own Wilson interval instead, labelled so."""
    from harness.results.intervals import group_intervals

    own = stats.wilson(351, 360)
    members = [
        {"best_metric": 0.975, "test_metric": t, "best_ci95_low": own.low, "best_ci95_high": own.high}
        for t in (0.97, 0.975, 0.98)
    ]
    found = group_intervals(members, proportion=True)
    assert (found["best_ci95_low"], found["best_ci95_high"]) == (own.low, own.high)
    assert found["ci95_low"] < 0.975 < found["ci95_high"] and found["ci95_method"] == "t, wilson"
