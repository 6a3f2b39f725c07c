"""The shapes of a leaderboard: what `harness.results.leaderboard` ranks and hands to the renderers
(`harness.views.leaderboard`) and to `--format json`.

Plain dicts at runtime, so the JSON is the board itself; a `BoardRow`'s keys, in declaration
order, are the JSON's and the CSV's columns (`FIELDS`). No rich, no torch.
"""

from __future__ import annotations

from typing import TypedDict

from harness.store.rows import Fastest, TrialRow

__all__ = [
    "FIELDS",
    "Board",
    "BoardRow",
    "CostFields",
    "LeaderRow",
    "OnnxFigures",
    "Rankable",
    "Reference",
    "RunFields",
    "Target",
    "Usable",
]


class Usable(TypedDict):
    """What says whether a row trained normally: a trial summary, a board's trial or group."""

    status: str
    best_metric: float | None


class Rankable(Usable):
    """What ranking reads of any row (the id breaks ties)."""

    id: str


class OnnxFigures(TypedDict):
    """From a trial's latest exports."""

    onnx_ms: float | None  # onnxruntime, batch 1, p50, milliseconds
    onnx_speedup: float | None  # over PyTorch eager, batch 1
    onnx_speedup_clear: bool | None  # whether the two runtimes' spreads separate; None: no latency
    int8_change: float | None  # the INT8 model's task metric minus float32 PyTorch's
    onnx_runtimes: str | None  # the cross-runtime matrix: "5/5" runtimes passed; None: onnxruntime only
    fastest: Fastest | None  # the fastest (runtime, precision) of its files within the gate; None: no matrix


class RunFields(TypedDict):
    """What data and budget a trial ran (`harness.results.matching.trial_terms`)."""

    variant: str | None
    image_size: int | None  # pixels
    train_limit: int | None  # training images, when a subset
    planned_epochs: int | None
    marks: str | None  # the reduced budget in words, e.g. "subset 200, 3 of 10 epochs"
    data: str | None  # how its data was not the task's own, in words (class folders left out); None: it was


class Intervals(TypedDict):
    """A row's 95% intervals (harness.results.intervals)."""

    best_ci95_low: float | None
    best_ci95_high: float | None
    ci95_low: float | None
    ci95_high: float | None
    ci95_method: str | None


class Significance(TypedDict):
    p_value: float | None
    significance: str | None


class CostFields(TypedDict):
    """What a trial's compute cost (`harness.results.cost.costs`); a group's: the mean over its seeds."""

    cpu_s: float | None  # CPU-seconds of training + validation, every epoch; None: not recorded
    gpu_s: float | None  # GPU-seconds (wall x Ray's GPU share); None: on the CPU, or not recorded
    cpu_s_to_target: float | None  # ... up to the first epoch at the published figure; None: never
    gpu_s_to_target: float | None


class LeaderRow(TrialRow, OnnxFigures, RunFields, CostFields):
    """A stored trial with everything a board ranks by or shows; grouped over seeds, the
    configuration's means, with its best seed's columns."""

    epochs_run: float  # a group's mean
    best_metric: float | None
    mean_epoch_time_s: float | None  # seconds
    mean_samples_per_s: float | None  # training images per second
    onnx: str | None  # the latest float32 export's status
    onnx_details: str | None
    int8_details: str | None
    onnx_matrix: str | None
    int8_matrix: str | None
    runtimes_passed: int | None
    runtimes_checked: int | None
    n_seeds: int  # the seeds that trained normally (1 for one trial)
    seed_values: list[float]  # their ranked figures (best_metric), for the tests over seeds
    seed_test_values: list[float]  # their test figures
    best_ci95_low: float | None  # 95% intervals (harness.results.intervals): the ranked validation figure,
    best_ci95_high: float | None
    ci95_low: float | None  # ... and the test figure
    ci95_high: float | None
    ci95_method: str | None  # "wilson" (one trial), "t" (over seeds); None: no interval
    vs_best: str | None  # set by harness.results.intervals.compare_top
    vs_best_p: float | None
    trial_ids: str  # every member, space-separated
    best_metric_std: float | None  # over seeds
    test_metric: float | None  # the best checkpoint on the test split
    test_metric_std: float | None
    time_to_target_s: float | None  # seconds of training and evaluation to the published figure


class BoardRow(TypedDict):
    """One row of a board, as `--format json` and `csv` give it (these keys, in this order)."""

    rank: int  # from 1
    trial_id: str  # the store's id (a group's: its best seed)
    arch: str
    optimizer: str
    lr: float
    batch_size: int
    epochs_run: float  # a group's mean
    seed: int | None  # None on a grouped board
    n_seeds: int  # the seeds a row's figures are over (1 for one trial)
    best_metric: float | None
    best_metric_std: float | None  # a standard deviation over seeds, not an interval
    best_ci95_low: float | None  # the 95% confidence interval of best_metric
    best_ci95_high: float | None
    test_metric: float | None
    test_metric_std: float | None
    ci95_low: float | None  # the 95% confidence interval of test_metric
    ci95_high: float | None
    ci95_method: str | None  # wilson: one trial's test images; t: over seeds; None: no interval
    vs_best: str | None  # --compare-top: "#1", "indistinguishable", "below #1" (Welch over seeds, Bonferroni)
    vs_best_p: float | None  # its corrected p value
    mean_epoch_time_s: float | None
    mean_samples_per_s: float | None
    params: int | None
    time_to_target_s: float | None
    cpu_s: float | None  # CPU-seconds (a group's: the mean over its seeds)
    gpu_s: float | None  # GPU-seconds; None on the CPU
    cpu_s_to_target: float | None  # CPU-seconds to the published figure; None: never reached
    gpu_s_to_target: float | None
    status: str  # a group's: "2 finished, 1 error" when its members differ
    onnx: str | None
    onnx_ms: float | None
    onnx_speedup: float | None
    onnx_speedup_clear: bool | None
    int8_change: float | None
    onnx_runtimes: str | None
    fastest: Fastest | None
    trial_ids: str
    variant: str | None
    image_size: int | None
    train_limit: int | None
    planned_epochs: int | None
    marks: str | None
    data: str | None
    trial: str  # the id tables show: Ray's short one where it names one trial
    device: str | None  # where it trained, in full: "cuda:0 NVIDIA H200", "cpu ..."; None: not recorded
    gpu_ids: list[str] | None  # the GPU ids Ray assigned ([] on the CPU); None: not recorded
    precision: str | None  # fp32 | bf16 | fp16


FIELDS: tuple[str, ...] = tuple(BoardRow.__annotations__)


class Target(TypedDict):
    """The published figure `time_to_target_s` races to."""

    report: str
    published: float
    score: str  # how the report measured it, e.g. "test_acc"


class Reference(TypedDict):
    """A published figure beside ours (`harness.results.leaderboard.references`)."""

    report: str
    run: str
    arch: str
    measure: str
    score: str
    published: float | None
    ours: float | None
    trial_id: str | None  # the matching trial; None when no trial ran the same
    difference: float | None  # ours - published
    closest_trial_id: str | None  # without a match: the closest other run
    closest_arch: str | None
    closest: float | None
    closest_differs: str | None  # its differences in words
    p_value: float | None  # ours against published: the exact binomial test of our correct count
    significance: str | None  # "above", "below", "indistinguishable" (alpha 0.05); None: not tested


class Board(TypedDict):
    """One task's leaderboard."""

    task: str
    metric: str  # the task's metric, e.g. "val_acc"
    mode: str  # "max" or "min": which end of `metric` is better
    sort: str  # a `harness.results.leaderboard.SORTS` name
    grouped: bool  # one row per configuration over its seeds
    target: Target | None
    rows: list[BoardRow]
    references: list[Reference]
