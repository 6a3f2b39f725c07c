"""One figure a report printed, as printed, with where it stands in the text and a short exact
quote of it (tests find the quote in the OCR'd text, ../shared/seeds). The figures themselves
are in one module per report (figures_<report>.py); harness.report.published gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Figure:
    report: str
    what: str  # in plain English
    printed: str  # exactly as in the text: "0.8146636921564738", "86.15%", "98 %"
    # The figure as a number: an accuracy or a percentage as a fraction, a loss as printed, a count
    # k of n as k/n; None for a timing. A figure the text printed at full precision is rounded as
    # the text's shorter printing of it (Keras's 4 digits) or, without one, to 5 digits (itam's).
    value: float | None
    about: bool = False  # the text gives it as approximate ("aproximadamente", "de un 50%")
    where: str  # section / table / figure / log line in the text
    quote: str  # an exact, short substring of the text that holds `printed`
    split: str | None = None  # "test", "validation", "train"; None: not a split's figure, or not said
    epoch: int | None = None  # 1-based, as the harness counts (uni2022's log counts from 0)
    model: str | tuple[str, ...] | None = None  # the recipe label(s) it belongs to
    of: int | None = None  # a count's whole: printed "7" of 8
    headline: bool = False  # the figure its recipe (`model`) compares against: Recipe.published
    curve: bool = False  # a log point before the last epoch: the document's curves, not its table
    measure: str | None = None  # a harness.report.published.MEASURES key: ours from the same run
    why: str = ""  # why there is no ours (every figure without a measure has one)

    @property
    def models(self) -> tuple[str, ...]:
        return self.model if isinstance(self.model, tuple) else (self.model,) if self.model else ()


def fraction(percent: str) -> float:
    """ "86.15%" or "98 %" -> 0.8615, 0.98 (rounded: no float noise from the division)."""
    return round(float(percent.rstrip("% ")) / 100, 6)


# Why a figure has no "ours", said once for the many it fits.
HEADLINE = "the headline: the recipe's row compares ours with it"
EARLIER = "an epoch before the last of the printed log: ours is the recipe's learning curve (docs/reproduction/)"
NO_TEST_LOSS = "the harness's epoch rows hold no test-split loss"
