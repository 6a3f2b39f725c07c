"""The shapes of the reproduction document: what `harness.report.reproduction` collects, what
docs/reproduction.json holds, what `harness.views.report` renders; and the rows of `harness
reproduce`'s and `harness compare`'s tables (`harness.report.compare`).

Plain dicts at runtime, so the JSON is the document itself; these TypedDicts only tell mypy and
the reader which keys a row has. A row's keys depend on how far its recipe got (not run, ran,
trained normally): those past the first stage are declared `total=False`, grouped by the stage
that adds them. No torch, no store: the renderer reads the committed JSON with nothing else.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "Against",
    "Beside",
    "BestConfig",
    "Beyond",
    "CompareRow",
    "Curve",
    "DataUsed",
    "Document",
    "Figures",
    "FinishRow",
    "OnData",
    "OtherFigure",
    "ProbeLine",
    "RecipeFields",
    "ReportSection",
    "Row",
    "SizeCurve",
    "SizePoint",
    "Verdict",
    "Where",
    "finished",
]


class Beside(TypedDict, total=False):
    """A validation figure's row: the same weights on the test split (a larger split, unbiased)."""

    test: float | None
    test_ci95: list[float] | None  # [low, high]: Wilson's, or an image output's bootstrap
    test_n: int | None  # test images


class Verdict(TypedDict):
    """A figure of ours against the published one (harness.report.measured.judge)."""

    basis: str  # what was tested: "test split, last epoch", "as the report measured: ..."
    value: float
    n: int | None  # the images the test rests on
    p_value: float | None  # the exact binomial test's; None: a bootstrap interval's verdict
    verdict: str  # "above" | "below" | "indistinguishable"


class Figures(Beside):
    """Ours as the report measured it (after the recipe's last epoch), its 95% interval, the best
    checkpoint's figure beside it, and the verdicts against the published figure."""

    ours: float | None  # a fraction
    split: str  # "test" | "validation": where the report measured
    measured_epoch: int | None  # the epoch ours is after: the recipe's last
    ci95: list[float] | None  # [low, high]
    ci95_method: str | None  # "wilson" | "bootstrap"
    val_n: int | None  # validation images
    best: float | None  # the same measure of the checkpoint with the best validation figure
    best_ci95: list[float] | None
    n: int | None  # the images the verdict rests on (the largest split that measures the same)
    p_value: float | None  # the main verdict's (the first of `verdicts`)
    verdict: str | None  # "above" | "below" | "indistinguishable"; None: nothing to test against
    verdicts: list[Verdict]  # on the largest split first, then the probes that measured as the report did


class DataUsed(TypedDict):
    """The data a recipe's run used beside the report's (harness.report.provenance)."""

    report: str | None  # the report's data in one line, from REPORTS.md
    counts: dict[str, int] | None  # split ("train", "val", "test") -> images, as the sweep recorded them
    source: str | None  # where ours came from, as the sweep recorded it
    variant: str | None
    offline: bool  # from an offline copy in ../shared/data
    caveats: list[str]  # how that copy differs from the source, one line each


class Curve(TypedDict):
    """Per epoch: the validation figure the report's measure follows, and train accuracy."""

    metric: str  # the validation score plotted: "val_acc", "val_keras_acc", ...
    epoch: list[int]
    val: list[float | None]
    train_acc: list[float | None]


class ProbeLine(TypedDict):
    """A probe recorded for the recipe's trial (`harness probe`): the report's way of measuring."""

    probe: str  # its name
    figure: str  # what it measures, in words
    baseline_is: str  # what the baseline is, in words
    value: float
    ci95: list[float] | None  # [low, high]; None: an exact count
    interval: str | None  # how the interval was computed, in words
    baseline: float | None
    note: str | None
    weights: str | None  # which weights it scored: "last epoch 20", "best epoch 16"; None: older rows (the best)


class MarkRow(TypedDict):
    """A mark as the reproduction document's row holds it."""

    setting: str
    value: str | int | float | None
    source: str  # "report" or "chosen"
    where: str  # report: where the text states it; chosen: why


class RecipeFields(TypedDict):
    """Every row: the recipe as the report states it."""

    recipe: str  # its label
    arch: str
    task: str
    framework: str
    epochs_planned: int
    image_size: int | None  # pixels
    measure: str  # what the published figure is: "test accuracy", ...
    published: float | None  # as a fraction
    published_about: bool  # printed as an approximate figure ("about 50%")
    published_where: str | None  # as printed, and where in the text; None: the text prints none
    notes: str  # where the report measured differently
    values: list[MarkRow]  # each setting's value and whether the report states it (harness.report.recipe_values)


class _Stated(RecipeFields):
    status: str  # "finished", "quick check", "not run yet", "not run: data not available offline", ...
    ours: float | None  # None: not run, or did not train normally
    command: str  # what produced the run, or what would


class Row(_Stated, Beside, total=False):
    """One recipe of a report. Its keys beyond `_Stated` come with the stage that adds them."""

    # not run: why its data is missing (None: simply not run yet)
    missing: str | None
    # ran: the run that stands for the recipe
    marks: str | None  # the reduced budget in words when it is a quick check
    trial_id: str
    epochs: int  # run
    best_epoch: int | None
    wall_s: float | None  # seconds
    cpu_s: float | None  # CPU-seconds of training + validation; None: not recorded
    hardware: str
    side_by_side: int  # recipes its reproduction ran at once
    data: DataUsed
    curve: Curve
    probes: list[ProbeLine]
    # trained normally: the keys of `Figures` but `ours` (and `Beside`'s, above)
    split: str
    measured_epoch: int | None
    ci95: list[float] | None
    ci95_method: str | None
    val_n: int | None
    best: float | None
    best_ci95: list[float] | None
    n: int | None
    p_value: float | None
    verdict: str | None
    verdicts: list[Verdict]


class SizePoint(TypedDict):
    train: int  # training images
    ours: float | None
    ci95: list[float] | None


class SizeCurve(TypedDict):
    """A recipe at all its epochs on subsets of our training set beside the full run."""

    recipe: str
    points: list[SizePoint]  # by training images, ascending
    slope_per_doubling: float  # the fit a + b ln(n): the change per doubling of the data
    report_train: int | None  # the report's training images, where the fit is read
    extrapolated: float | None  # the fit read there (capped at 1)
    published: float | None


class Where(TypedDict):
    variant: str | None
    image_size: int | None


class BestConfig(TypedDict):
    """The settings of the best other trial, from its config (a setting it lacks: None)."""

    arch: str | None
    optimizer: str | None
    lr: float | None
    batch_size: int | None
    weight_decay: float | None
    seed: int | None


class Against(TypedDict):
    recipe: str
    published: float


class OnData(TypedDict):
    """What a line "beyond the report" searched: a recipe's data and epoch count."""

    task: str
    data: Where
    epochs: int


class _Searched(OnData):
    best: BestConfig | None  # None: no other sweep ran on this data at this epoch count


class Beyond(_Searched, total=False):
    """Per recipe data and epoch count: the best trial of any other sweep on it (when `best`)."""

    trial_id: str
    figures: Figures
    measure: str
    selected_by: str  # the validation metric that chose it
    command: str  # its sweep's
    trials: int  # in its sweep, on this data
    cpu_s: float | None  # CPU-seconds of those trials
    wall_s: float | None  # its sweep's, seconds
    against: list[Against]  # the recipes on the same data with a published figure


class OtherFigure(TypedDict):
    """One of a report's other published figures (harness.report.published)."""

    what: str  # in plain English
    published: str  # as printed ("about" where the text is approximate)
    where: str  # where the text prints it
    ours: float | None
    measure: str | None  # how the recipe's run measures it; None: not compared
    why: str  # why there is no "ours"


class ReportSection(TypedDict):
    report: str
    rows: list[Row]  # one per recipe, in the preset's order
    sizes: list[SizeCurve]
    beyond: list[Beyond]
    others: list[OtherFigure]


class Document(TypedDict):
    """`harness report`'s rows, as docs/reproduction.json holds them."""

    format: str  # harness.report.reproduction.FORMAT
    reports: list[ReportSection]


class _Published(TypedDict):
    """A row of `harness reproduce`'s or `harness compare`'s table: the recipe and ours beside it."""

    report: str
    recipe: str
    arch: str
    task: str
    measure: str
    published: float | None
    ours: float | None
    trial_id: str | None
    epochs: int | None
    recipe_epochs: int


class FinishRow(_Published):
    """`harness reproduce`: a recipe of the reproduction that just ran."""

    ours_test: float | None  # its test figure under PyTorch, once exported and verified
    status: str
    quick_check: str | None  # the reduced budget in words
    sweep_id: str | None
    notes: str
    missing: str | None  # why its data was missing
    command: str | None  # what runs it when it did not


class CompareRow(_Published):
    """`harness compare`: the best stored trial of the recipe, the closest other, the best on its data."""

    best_arch: str | None
    best_trial_id: str | None
    best: float | None
    closest_trial_id: str | None
    closest_arch: str | None
    closest: float | None
    closest_differs: str | None  # how the closest run differs, "; "-joined
    notes: str
    status: str
    quick_check: None  # never a quick check: only runs on the recipe's own budget count


def finished(row: Row) -> bool:
    """A full run of the recipe (its status may add that it trained on fewer images than the report)."""
    return row["status"].split(",")[0] == "finished"
