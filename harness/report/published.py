"""The reports' other published figures: the ones beside each recipe's headline figure
(REPORTS.md), each with ours where the same run measures it, or why it is not compared.

A train accuracy or a validation loss is read from the recipe's own run; a GPU timing or a
figure on data we do not have is listed with the reason it has no "ours".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.report.document import OtherFigure
from harness.store.rows import EpochRow


def _last_train_acc(epochs: list[EpochRow], best_epoch: int | None) -> float | None:
    return epochs[-1].get("train_acc") if epochs else None


def _best_val_loss(epochs: list[EpochRow], best_epoch: int | None) -> float | None:
    best = [e for e in epochs if e["epoch"] == best_epoch]
    return best[0].get("val_loss") if best else None


# what a figure is -> how the recipe's run measures it (its epochs, its best epoch)
MEASURES: dict[str, Callable[[list[EpochRow], int | None], float | None]] = {
    "train accuracy, last epoch": _last_train_acc,
    "validation loss, best epoch": _best_val_loss,
}


@dataclass(frozen=True)
class Figure:
    what: str  # in the report's words
    published: str  # as printed
    recipe: str | None = None  # the recipe whose run measures it
    measure: str | None = None  # a MEASURES key; None: not compared, see `why`
    why: str = ""  # why there is no "ours"


OTHER_FIGURES: dict[str, tuple[Figure, ...]] = {
    "uni2022-catsdogs": (
        Figure("train accuracy after epoch 20", "90.7%", "CNN + MLP, epoch 20", "train accuracy, last epoch"),
        Figure("test accuracy in the abstract / conclusion", "83.9% / 83.4%", why="the same run as the table's 86.15%"),
    ),
    "uchile2020-cifar10": (
        Figure("Red Grande training time (Colab GPU)", "116.72 s, 7 s/epoch", why="a GPU timing; ours ran on CPUs"),
        Figure("Red Pequena training time (Colab GPU)", "60.31 s, 4.5 s/epoch", why="a GPU timing; ours ran on CPUs"),
        Figure(
            "Red Grande on all 50,000 training images",
            "about 90%",
            why="another recipe (split full); its offline batches come from make_batches.py in ../shared/data/cifar10",
        ),
    ),
    "itesm2022-catsdogs": (
        Figure("model 4 train accuracy", "93.33%", "model 4 (split B)", "train accuracy, last epoch"),
        Figure("12 photos from the web", "qualitative", why="no labelled set; `harness predict` is the same use"),
    ),
    "uni2022-pokemon": (
        Figure("train accuracy, both networks", "about 98%", "ResNet", "train accuracy, last epoch"),
        Figure("predictions shown", "7 of 8 correct", why="eight images, not a measurement"),
    ),
    "itam2020-catsdogs-mnist": (
        Figure("cats vs dogs train accuracy", "0.9740", "cats vs dogs, 150 px", "train accuracy, last epoch"),
        Figure("cats vs dogs validation loss", "0.1764", "cats vs dogs, 150 px", "validation loss, best epoch"),
        Figure("the assignment's starting network", "0.5707", why="its network is not given in the report"),
    ),
}


def other_figures(report: str, runs: dict[str, tuple[list[EpochRow], int | None]]) -> list[OtherFigure]:
    """The report's other figures with ours from `runs` (recipe label -> its epochs and best epoch)."""
    out: list[OtherFigure] = []
    for figure in OTHER_FIGURES.get(report, ()):
        ours, why = None, figure.why
        if figure.measure is not None:
            run = runs.get(figure.recipe or "")
            ours = MEASURES[figure.measure](*run) if run else None
            why = why or ("" if ours is not None else "its recipe has no full run in the store")
        out.append(
            {"what": figure.what, "published": figure.published, "ours": ours, "measure": figure.measure, "why": why}
        )
    return out
