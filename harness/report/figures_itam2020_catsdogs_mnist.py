"""itam2020-catsdogs-mnist's printed figures: Table 1 (cats vs dogs at epoch 40), the assignment's
starting figures, and the four lines printed under each upsampling model."""

from __future__ import annotations

from dataclasses import replace

from harness.report.figure import HEADLINE, Figure

REPORT = "itam2020-catsdogs-mnist"
CATS = "cats vs dogs, 150 px"
_TABLE = "Pregunta 1, Table 1 (Época 40)"
_ROW = "0.0170\t0.9740\t0.1764\t0.7967"  # Table 1's one row: train loss, train acc, val loss, val acc
_KERAS_ACC = (
    "Keras binary accuracy on the training images; the harness records pixel accuracy against the"
    " binarised target for training, not Keras's metric"
)

_CATS = [
    Figure(
        report=REPORT,
        what="cats vs dogs: training loss, epoch 40",
        printed="0.0170",
        value=0.017,
        where=_TABLE,
        quote=_ROW,
        split="train",
        epoch=40,
        model=CATS,
        measure="train loss, last epoch",
    ),
    Figure(
        report=REPORT,
        what="cats vs dogs: training accuracy, epoch 40",
        printed="0.9740",
        value=0.974,
        where=_TABLE,
        quote=_ROW,
        split="train",
        epoch=40,
        model=CATS,
        measure="train accuracy, last epoch",
    ),
    Figure(
        report=REPORT,
        what="cats vs dogs: validation loss, epoch 40",
        printed="0.1764",
        value=0.1764,
        where=_TABLE,
        quote=_ROW,
        split="validation",
        epoch=40,
        model=CATS,
        measure="validation loss, last epoch",
    ),
    Figure(
        report=REPORT,
        what="cats vs dogs: validation accuracy, epoch 40 (the last)",
        printed="0.7967",
        value=0.7967,
        where=_TABLE,
        quote=_ROW,
        split="validation",
        epoch=40,
        model=CATS,
        headline=True,
        why=HEADLINE,
    ),
    Figure(
        report=REPORT,
        what="the assignment's starting network: loss",
        printed="0.2485",
        value=0.2485,
        where="Pregunta 1, the question",
        quote="pude conseguir una pérdida de 0.2485",
        why="the course's network, given in the question, not in the report",
    ),
    Figure(
        report=REPORT,
        what="the assignment's starting network: accuracy",
        printed="0.5707",
        value=0.5707,
        where="Pregunta 1, the question",
        quote="y exactitud de 0.5707",
        why="the course's network, given in the question, not in the report",
    ),
]


def _upsampling(n: int, train_loss: str, val_loss: str, acc: str, val_acc: str) -> list[Figure]:
    """The four lines under "Modelo n", after its 10 epochs (model 1 prints no epoch count)."""
    where = f"Pregunta 5, Modelo {n}, '{{}}' line"
    printed_under = Figure(
        report=REPORT,
        what="",
        printed="",
        value=None,
        where="",
        quote="",
        model=f"upsampling model {n}",
        epoch=10 if n > 1 else None,
    )
    return [
        replace(
            printed_under,
            what=f"upsampling model {n}: training loss (binary cross-entropy)",
            printed=train_loss,
            value=float(train_loss),
            where=where.format("Training Loss"),
            quote=f"Training Loss: {train_loss}",
            split="train",
            measure="train loss, last epoch",
        ),
        replace(
            printed_under,
            what=f"upsampling model {n}: validation loss (binary cross-entropy)",
            printed=val_loss,
            value=float(val_loss),
            where=where.format("Validation Loss"),
            quote=f"Validation Loss: {val_loss}",
            split="validation",
            measure="validation loss, last epoch",
        ),
        replace(
            printed_under,
            what=f"upsampling model {n}: Keras binary accuracy on the training images",
            printed=acc,
            value=round(float(acc), 5),
            where=where.format("Accuracy"),
            quote=f"Accuracy {acc}",
            split="train",
            why=_KERAS_ACC,
        ),
        replace(
            printed_under,
            what=f"upsampling model {n}: Keras binary accuracy on the validation images",
            printed=val_acc,
            value=round(float(val_acc), 5),
            where=where.format("Validation Accuracy"),
            quote=f"Validation Accuracy {val_acc}",
            split="validation",
            headline=True,
            why=HEADLINE,
        ),
    ]


ITAM_FIGURES = [
    *_CATS,
    *_upsampling(1, "0.077575157503287", "0.07842957244316737", "0.8145438398431849", "0.8146636921564738"),
    *_upsampling(2, "0.07420010910265976", "0.07574893835932016", "0.8148527016904619", "0.8148822250962258"),
    *_upsampling(3, "0.07554045096867615", "0.07693064297549426", "0.8147076013187567", "0.8147189611196518"),
]
