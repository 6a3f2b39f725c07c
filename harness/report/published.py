"""Every figure of results the five reports printed (harness.report.figure: as printed, where,
a quote of it), each with ours where the same run measures it, or why it is not compared.

A recipe's headline figure is one of them (`headline`, linked by the recipe's label); the others
go to the document's table of other figures, but for the points of a printed per-epoch log before
its last epoch (`curve`): those are the learning curve, which the document draws, not tabulates.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.report.document import OtherFigure
from harness.report.figure import Figure
from harness.report.figures_itam2020_catsdogs_mnist import ITAM_FIGURES
from harness.report.figures_itesm2022_catsdogs import ITESM_FIGURES
from harness.report.figures_uchile2020_cifar10 import UCHILE_FIGURES
from harness.report.figures_uni2022_catsdogs import UNI_FIGURES
from harness.report.figures_uni2022_pokemon import POKEMON_FIGURES
from harness.store.rows import EpochRow

FIGURES: tuple[Figure, ...] = (*UNI_FIGURES, *UCHILE_FIGURES, *ITESM_FIGURES, *POKEMON_FIGURES, *ITAM_FIGURES)


def _last(key: str) -> Callable[[list[EpochRow], int | None], float | None]:
    def read(epochs: list[EpochRow], best_epoch: int | None) -> float | None:
        value = epochs[-1].get(key) if epochs else None
        return value if isinstance(value, float) else None

    return read


def _best(key: str) -> Callable[[list[EpochRow], int | None], float | None]:
    def read(epochs: list[EpochRow], best_epoch: int | None) -> float | None:
        best = [e for e in epochs if e["epoch"] == best_epoch]
        value = best[0].get(key) if best else None
        return value if isinstance(value, float) else None

    return read


# what a figure is -> how the recipe's run measures it (its epochs, its best epoch)
MEASURES: dict[str, Callable[[list[EpochRow], int | None], float | None]] = {
    "train accuracy, last epoch": _last("train_acc"),
    "train loss, last epoch": _last("train_loss"),
    "validation loss, last epoch": _last("val_loss"),
    "validation loss, best epoch": _best("val_loss"),
    "validation accuracy, best epoch": _best("val_acc"),
}


def figures_of(report: str) -> list[Figure]:
    return [f for f in FIGURES if f.report == report]


def headline(report: str, label: str) -> Figure | None:
    """The figure recipe `label` of `report` compares against; None: the report printed none."""
    found = [f for f in figures_of(report) if f.headline and label in f.models]
    assert len(found) <= 1, (report, label, found)
    return found[0] if found else None


def printed(figure: Figure) -> str:
    """The figure as the document shows it: as printed, "about" where the text is approximate,
    a count with its whole."""
    return ("about " if figure.about else "") + figure.printed + (f" of {figure.of}" if figure.of else "")


NO_RUN = "its recipe has no full run in the store"  # why a figure has no "ours"


def other_figures(report: str, runs: dict[str, tuple[list[EpochRow], int | None]]) -> list[OtherFigure]:
    """The report's figures beside its headlines, with ours from `runs` (recipe label -> its
    epochs and best epoch); a figure said of several recipes gets one line per recipe."""
    out: list[OtherFigure] = []
    for figure in figures_of(report):
        if figure.headline or figure.curve:
            continue
        for label in figure.models if figure.measure else (None,):
            ours, why = None, figure.why
            if figure.measure is not None:
                run = runs.get(label or "")
                ours = MEASURES[figure.measure](*run) if run else None
                if ours is None:
                    why = "its run did not record it" if run else NO_RUN
            what = figure.what + (f" ({label})" if label and len(figure.models) > 1 else "")
            out.append(
                {
                    "what": what,
                    "published": printed(figure),
                    "where": figure.where,
                    "ours": ours,
                    "measure": figure.measure,
                    "why": why,
                }
            )
    return out
