"""uni2022-pokemon's printed figures: the discussion's two percentages and the eight predictions.
The report prints no figure per network: its "98 %" and "50%" are said of both networks trained
with data augmentation (the runs its figures show trained without)."""

from __future__ import annotations

from harness.report.figure import Figure

REPORT = "uni2022-pokemon"
BOTH = ("CNN", "ResNet")
_DISCUSSION = "3 Discusión de resultados, first sentence"

POKEMON_FIGURES = [
    Figure(
        report=REPORT,
        what="train accuracy of both networks with data augmentation (the text says 'train loss' of a percentage)",
        printed="98 %",
        value=0.98,
        about=True,
        where=_DISCUSSION,
        quote="el train loss era de un 98 %",
        split="train",
        model=BOTH,
        measure="train accuracy, last epoch",
    ),
    Figure(
        report=REPORT,
        what="test accuracy of both networks with data augmentation (the text says 'test loss' of a percentage)",
        printed="50%",
        value=0.5,
        about=True,
        where=_DISCUSSION,
        quote="en el test loss fue de un 50%",
        split="test",
        model=BOTH,
        headline=True,
        why="the headline of both recipes: each row compares ours with it",
    ),
    Figure(
        report=REPORT,
        what="the CNN's shown predictions that are right (Figura 2; the ResNet gets as many, another one wrong)",
        printed="7",
        value=7 / 8,
        of=8,
        where="3 Discusión de resultados, Figuras 2 and 4",
        quote="este 7 de 8 imagenes bien predecidas",
        model="CNN",
        why="eight images shown, from the runs without augmentation: not a measurement on a split",
    ),
]
