"""uchile2020-cifar10's printed figures: Tabla 2, the timings, the prose's."""

from __future__ import annotations

from harness.report.figure import HEADLINE, Figure

REPORT = "uchile2020-cifar10"
_GPU = "a Colab GPU timing; ours trained elsewhere (the row gives our hardware and wall time)"
_CODE_15 = " (Tabla 2; the printed evaluation, Códigos 15-16, loops over val_loader)"
UCHILE_FIGURES = [
    Figure(
        report=REPORT,
        what="Red Grande test accuracy" + _CODE_15,
        printed="72.9%",
        value=0.729,
        where="3.3 Análisis, Tabla 2 (Épocas: 20)",
        quote="Red Grande\t72.9%\t116.72 [s]",
        split="test",
        epoch=20,
        model="Red Grande",
        headline=True,
        why=HEADLINE,
    ),
    Figure(
        report=REPORT,
        what="Red Pequena test accuracy" + _CODE_15,
        printed="69.23%",
        value=0.6923,
        where="3.3 Análisis, Tabla 2 (Épocas: 20)",
        quote="Red Pequeña\t69.23%\t60.31 [s]",
        split="test",
        epoch=20,
        model="Red Pequena",
        headline=True,
        why=HEADLINE,
    ),
    Figure(
        report=REPORT,
        what="Red Grande training time, 20 epochs (seconds)",
        printed="116.72",
        value=None,
        where="3.3 Análisis, Tabla 2",
        quote="Red Grande\t72.9%\t116.72 [s]",
        model="Red Grande",
        why=_GPU,
    ),
    Figure(
        report=REPORT,
        what="Red Pequena training time, 20 epochs (seconds)",
        printed="60.31",
        value=None,
        where="3.3 Análisis, Tabla 2",
        quote="Red Pequeña\t69.23%\t60.31 [s]",
        model="Red Pequena",
        why=_GPU,
    ),
    Figure(
        report=REPORT,
        what="Red Pequena seconds per epoch",
        printed="4.5",
        value=None,
        where="3.2 Red Pequeña, last paragraph",
        quote="necesitando 4.5 segundos por época",
        model="Red Pequena",
        why=_GPU,
    ),
    Figure(
        report=REPORT,
        what="Red Grande seconds per epoch",
        printed="7",
        value=None,
        where="3.2 Red Pequeña, last paragraph",
        quote="en comparación a los 7 segundos por época de la red grande",
        model="Red Grande",
        why=_GPU,
    ),
    Figure(
        report=REPORT,
        what="best validation accuracy of both networks, read off their curves",
        printed="0.71",
        value=0.71,
        about=True,
        where="3.3 Análisis, fourth paragraph (figures 2b and 4b)",
        quote="rendimiento máximo de 0.71 en el conjunto de validación aproximadamente",
        split="validation",
        model=("Red Grande", "Red Pequena"),
        measure="validation accuracy, best epoch",
    ),
    Figure(
        report=REPORT,
        what="accuracy with all the data (network and split not said)",
        printed="90 %",
        value=0.9,
        where="4. Conclusión, third paragraph",
        quote="el sistema alcanzó un accuracy del 90 %",
        why="a run the text only names: which network, split and epochs are not given",
    ),
]
