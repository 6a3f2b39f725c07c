"""itesm2022-catsdogs' printed figures: the ends of its four Keras logs and evaluations
(verbatim), the web-photo counts, the timings, the prose's."""

from __future__ import annotations

import re
from dataclasses import replace

from harness.report.figure import EARLIER, HEADLINE, NO_TEST_LOSS, Figure

REPORT = "itesm2022-catsdogs"
ITESM_MODELS = ("model 1 (64 px, split A)", "model 2 (split A)", "model 3 (split B)", "model 4 (split B)")
# The printed ends of the four training logs (Keras fit), verbatim from the first " - " on:
# (model, epoch, its line). Model 2's first line has no "Epoch 22/25" header above it; model 3
# prints "Epoch 22/25" twice, the first where epoch 21 stands (the order says 21).
ITESM_LOG = (
    (1, 22, "- 7s 71ms/step - loss: 0.4140 - accuracy: 0.8069 - val_loss: 0.5472 - val_accuracy: 0.7531"),
    (1, 23, "- 7s 72ms/step - loss: 0.3910 - accuracy: 0.8144 - val_loss: 0.4743 - val_accuracy: 0.7844"),
    (1, 24, "- 7s 72ms/step - loss: 0.3959 - accuracy: 0.8213 - val_loss: 0.5187 - val_accuracy: 0.7688"),
    (1, 25, "- 6s 60ms/step - loss: 0.3833 - accuracy: 0.8266 - val_loss: 0.5542 - val_accuracy: 0.7281"),
    (2, 22, "- 15s 56ms/step - loss: 0.2863 - accuracy: 0.8801 - val_loss: 0.3733 - val_accuracy: 0.8570"),
    (2, 23, "- 14s 53ms/step - loss: 0.2751 - accuracy: 0.8815 - val_loss: 0.3620 - val_accuracy: 0.8575"),
    (2, 24, "- 13s 50ms/step - loss: 0.2712 - accuracy: 0.8845 - val_loss: 0.4039 - val_accuracy: 0.8360"),
    (2, 25, "- 14s 52ms/step - loss: 0.2615 - accuracy: 0.8873 - val_loss: 0.3529 - val_accuracy: 0.8655"),
    (3, 21, "- 29s 46ms/step - loss: 0.2391 - accuracy: 0.9010 - val_loss: 0.3572 - val_accuracy: 0.8596"),
    (3, 22, "- 29s 45ms/step - loss: 0.2256 - accuracy: 0.9075 - val_loss: 0.2763 - val_accuracy: 0.8953"),
    (3, 23, "- 35s 54ms/step - loss: 0.2231 - accuracy: 0.9078 - val_loss: 0.4004 - val_accuracy: 0.8616"),
    (3, 24, "- 35s 54ms/step - loss: 0.2220 - accuracy: 0.9095 - val_loss: 0.2748 - val_accuracy: 0.8934"),
    (3, 25, "- 33s 51ms/step - loss: 0.2168 - accuracy: 0.9107 - val_loss: 0.2421 - val_accuracy: 0.9038"),
    (4, 21, "- 33s 52ms/step - loss: 0.2046 - accuracy: 0.9151 - val_loss: 0.2118 - val_accuracy: 0.9182"),
    (4, 22, "- 33s 51ms/step - loss: 0.1922 - accuracy: 0.9216 - val_loss: 0.2318 - val_accuracy: 0.9023"),
    (4, 23, "- 33s 52ms/step - loss: 0.1908 - accuracy: 0.9213 - val_loss: 0.2559 - val_accuracy: 0.9082"),
    (4, 24, "- 33s 51ms/step - loss: 0.1846 - accuracy: 0.9241 - val_loss: 0.2478 - val_accuracy: 0.8978"),
    (4, 25, "- 33s 52ms/step - loss: 0.1880 - accuracy: 0.9240 - val_loss: 0.2049 - val_accuracy: 0.9127"),
)
_KERAS_LINE = re.compile(
    r"- (\d+)s \d+ms/step - loss: ([\d.]+) - accuracy: ([\d.]+) - val_loss: ([\d.]+) - val_accuracy: ([\d.]+)"
)
# Keras's validation during fit: validation_data=test_set for validation_steps batches of 32
# (model 1: 10 batches; models 3 and 4: 2000/32 of their 5,000 test images).
_KERAS_VAL = "Keras's validation on part of the test split during fit; ours validates on the harness's own split"
_RUNNING = "Keras's running mean over the epoch's batches, as ours"
_TIMING = "a timing on the report's GTX 1650 Ti; ours trained elsewhere (the row gives our hardware and wall time)"


def _itesm_log() -> list[Figure]:
    out = []
    for n, epoch, line in ITESM_LOG:
        match = _KERAS_LINE.fullmatch(line)
        assert match, line
        seconds, loss, acc, val_loss, val_acc = match.groups()
        last = epoch == 25
        # the line's five figures share all but what, printed, value, split and the why/measure
        line_of = Figure(
            report=REPORT,
            what="",
            printed="",
            value=None,
            where=f"model {n}, 'Entrenamiento' log, epoch {epoch}/25",
            quote=line,
            epoch=epoch,
            model=ITESM_MODELS[n - 1],
            curve=not last,
        )
        out += [
            replace(line_of, what=f"model {n}: seconds of epoch {epoch}", printed=seconds, why=_TIMING),
            replace(
                line_of,
                what=f"model {n}: train loss, epoch {epoch} ({_RUNNING})",
                printed=loss,
                value=float(loss),
                split="train",
                measure="train loss, last epoch" if last else None,
                why="" if last else EARLIER,
            ),
            replace(
                line_of,
                what=f"model {n}: train accuracy, epoch {epoch} ({_RUNNING})",
                printed=acc,
                value=float(acc),
                split="train",
                measure="train accuracy, last epoch" if last else None,
                why="" if last else EARLIER,
            ),
            replace(
                line_of,
                what=f"model {n}: val_loss, epoch {epoch}",
                printed=val_loss,
                value=float(val_loss),
                split="test",
                why=_KERAS_VAL,
            ),
            replace(
                line_of,
                what=f"model {n}: val_accuracy, epoch {epoch}",
                printed=val_acc,
                value=float(val_acc),
                split="test",
                why=_KERAS_VAL,
            ),
        ]
    return out


# The "Validation" blocks: classifier.evaluate on the training and the test generator after the
# 25 epochs, each printed twice (Keras's bar to 4 digits, then the list in full; the list's label
# "train loss, test acc" is the notebook's own). (model, split, its two lines).
ITESM_EVALUATE = (
    (1, "train", "- 16s 66ms/step - loss: 0.3663 - accuracy: 0.8394", "[0.3663395941257477, 0.8393750190734863]"),
    (1, "test", "- 2s 38ms/step - loss: 0.4731 - accuracy: 0.7745", "[0.4730565845966339, 0.7745000123977661]"),
    (2, "train", "- 31s 123ms/step - loss: 0.2320 - accuracy: 0.9056", "[0.2320248931646347, 0.9056249856948853]"),
    (2, "test", "- 3s 40ms/step - loss: 0.3529 - accuracy: 0.8655", "[0.3528532087802887, 0.8654999732971191]"),
    (3, "train", "- 76s 122ms/step - loss: 0.1743 - accuracy: 0.9282", "[0.17427031695842743, 0.9282000064849854]"),
    (3, "test", "- 5s 34ms/step - loss: 0.2671 - accuracy: 0.8972", "[0.2671208083629608, 0.897199983651733]"),
    (4, "train", "- 75s 120ms/step - loss: 0.1645 - accuracy: 0.9333", "[0.1645161360502243, 0.9332500100135803]"),
    (4, "test", "- 6s 36ms/step - loss: 0.2069 - accuracy: 0.9178", "[0.20693928003311157, 0.9178000092506409]"),
)
_KERAS_BAR = re.compile(r"- (\d+)s \d+ms/step - loss: ([\d.]+) - accuracy: ([\d.]+)")
_EVALUATED = (
    "evaluated on the (augmented) training generator with the final weights; ours records the running"
    " accuracy during each epoch (the log's 'accuracy')"
)


def _itesm_evaluate() -> list[Figure]:
    out = []
    for n, split, bar, full in ITESM_EVALUATE:
        loss, acc = full.strip("[]").split(", ")
        seconds, bar_loss, bar_acc = re.fullmatch(
            r"- (\d+)s \d+ms/step - loss: ([\d.]+) - accuracy: ([\d.]+)", bar
        ).groups()  # type: ignore[union-attr]
        test = split == "test"
        of_split = Figure(
            report=REPORT,
            what="",
            printed="",
            value=None,
            where=f"model {n}, 'Validation': 'Evaluate on {split} data' ({bar_acc} on Keras's bar)",
            quote=full,
            split=split,
            epoch=25,
            model=ITESM_MODELS[n - 1],
        )
        out += [
            replace(
                of_split,
                what=f"model {n}: seconds to evaluate the {split} split",
                printed=seconds,
                quote=bar,
                why=_TIMING,
            ),
            replace(
                of_split,
                what=f"model {n}: {split} loss after training",
                printed=loss,
                value=float(bar_loss),
                why=NO_TEST_LOSS if test else _EVALUATED,
            ),
            replace(
                of_split,
                what=f"model {n}: {split} accuracy after training",
                printed=acc,
                value=float(bar_acc),
                headline=test,
                why=HEADLINE if test else _EVALUATED,
            ),
        ]
    return out


_WEB = "12 photos from Google (7 dogs, 5 cats), no labelled set here; harness predict on photos is the same use"


def _web(n: int, dogs: int, cats: int, section: str) -> list[Figure]:
    photos = Figure(
        report=REPORT,
        what="",
        printed="",
        value=None,
        where=f"{section}, 'Prueba del modelo'",
        quote="",
        model=ITESM_MODELS[n - 1],
        why=_WEB,
    )
    return [
        replace(
            photos,
            what=f"model {n}: web photos of dogs classified correctly",
            printed=str(dogs),
            value=dogs / 7,
            of=7,
            quote=f"De las 7 imágenes de perros, {dogs} las detectó correctamente.",
        ),
        replace(
            photos,
            what=f"model {n}: web photos of cats classified correctly",
            printed=str(cats),
            value=cats / 5,
            of=5,
            quote=f"De las 5 imágenes de gatos, {cats} las detectó correctamente.",
        ),
    ]


_PROSE = "the evaluation above, rounded in the prose"
ITESM_FIGURES = [
    *_itesm_log(),
    *_itesm_evaluate(),
    *_web(1, 7, 0, "XI. Primer Approach"),
    *_web(2, 4, 5, "XIII. 2do Modelo"),
    *_web(3, 1, 2, "XIV. Tercer Modelo"),
    *_web(4, 3, 5, "XV. Cuarto Modelo"),
    Figure(
        report=REPORT,
        what="model 1: time of the fit cell",
        printed="2m 54.5s",
        value=None,
        where="XI. Primer Approach, the notebook's cell time under the fit call",
        quote="✓ 2m 54.5s",
        model=ITESM_MODELS[0],
        why=_TIMING,
    ),
    Figure(
        report=REPORT,
        what="model 1: training time (minutes, approximate)",
        printed="8 min",
        value=None,
        about=True,
        where="XI. Primer Approach",
        quote="Después de aproximadamente 8 min de entrenamiento",
        model=ITESM_MODELS[0],
        why=_TIMING,
    ),
    Figure(
        report=REPORT,
        what="model 1: train accuracy in the prose",
        printed="83%",
        value=0.83,
        where="XI. Primer Approach, after the log",
        quote="obtenemos un accuracy del 83% con los datos de entrenamiento",
        split="train",
        model=ITESM_MODELS[0],
        why=_PROSE,
    ),
    Figure(
        report=REPORT,
        what="model 1: test accuracy in the prose",
        printed="77%",
        value=0.77,
        where="XI. Primer Approach, after the log",
        quote="un accuracy de 77% en los datos de prueba",
        split="test",
        model=ITESM_MODELS[0],
        why=_PROSE,
    ),
    Figure(
        report=REPORT,
        what="model 3: train accuracy in the prose",
        printed="92.2%",
        value=0.922,
        where="XIV. Tercer Modelo, after the log",
        quote="una precisión para el train de 92.2%",
        split="train",
        model=ITESM_MODELS[2],
        why="the evaluation prints 92.82%; the prose's 92.2% matches no printed figure",
    ),
    Figure(
        report=REPORT,
        what="model 3: test accuracy in the prose",
        printed="89.7%",
        value=0.897,
        where="XIV. Tercer Modelo, after the log",
        quote="y para el test de 89.7%",
        split="test",
        model=ITESM_MODELS[2],
        why=_PROSE,
    ),
    Figure(
        report=REPORT,
        what="model 3: train minus test accuracy in the prose",
        printed="2.5%",
        value=0.025,
        where="XIV. Tercer Modelo, after the log",
        quote="con una diferencia de 2.5%",
        model=ITESM_MODELS[2],
        why="a difference of two figures above",
    ),
    Figure(
        report=REPORT,
        what="model 4: train minus test accuracy in the prose",
        printed="1.55%",
        value=0.0155,
        where="XV. Cuarto Modelo, 'Validation'",
        quote="bastante parecida con una diferencia de 1.55%",
        model=ITESM_MODELS[3],
        why="a difference of two figures above",
    ),
    Figure(
        report=REPORT,
        what="model 4: time of the evaluation cell",
        printed="1m 21.2s",
        value=None,
        where="XV. Cuarto Modelo, 'Validation'",
        quote="| 1m 21.2s",
        model=ITESM_MODELS[3],
        why=_TIMING,
    ),
]
