"""uni2022-catsdogs' printed figures: its per-epoch log (verbatim) and the prose's."""

from __future__ import annotations

import re
from dataclasses import replace

from harness.report.figure import EARLIER, HEADLINE, NO_TEST_LOSS, Figure, fraction

REPORT = "uni2022-catsdogs"
UNI_RECIPE = "CNN + MLP, epoch 20"
# Figura 2, "Tabla de resultados por épocas", verbatim (test = the report's test_set, augmented).
UNI_LOG = """\
epoch: 0, train loss: 0.327128392836404, train acc: 85.35%, test loss: 1.07750813167243, test acc: 59.65%
epoch: 1, train loss: 0.314913268363665, train acc: 86.5875%, test loss: 0.6493538916110992, test acc: 72.65%
epoch: 2, train loss: 0.30339775888125104, train acc: 86.7225%, test loss: 0.86619727152586, test acc: 64.25%
epoch: 3, train loss: 0.3036927272737451, train acc: 86.7125%, test loss: 0.4931742697834869, test acc: 78.35%
epoch: 4, train loss: 0.30380746539943, train acc: 87.375%, test loss: 0.5955839306116104, test acc: 70.95%
epoch: 5, train loss: 0.281367355159386, train acc: 88.6375%, test loss: 0.5917022809386253, test acc: 61.7%
epoch: 6, train loss: 0.255099245921083, train acc: 87.45%, test loss: 0.4483317228908413, test acc: 80.65%
epoch: 7, train loss: 0.2834726439319191, train acc: 88.8625%, test loss: 0.572965782135725, test acc: 74.95%
epoch: 8, train loss: 0.261393912964397, train acc: 88.8625%, test loss: 0.35347220956660314, test acc: 85.25%
epoch: 9, train loss: 0.2684154646499263, train acc: 88.7225%, test loss: 0.328908051359177, test acc: 76.85%
epoch: 10, train loss: 0.2556159119196207, train acc: 89.8375%, test loss: 0.3902894128113985, test acc: 82.45%
epoch: 11, train loss: 0.2594241718783405, train acc: 88.8625%, test loss: 0.4115523862646389, test acc: 80.75%
epoch: 12, train loss: 0.257265613220925, train acc: 89.4375%, test loss: 0.340392426262093, test acc: 94.95%
epoch: 13, train loss: 0.2564994522692663, train acc: 88.95%, test loss: 0.41382319573131, test acc: 84.85%
epoch: 14, train loss: 0.2379914088988017, train acc: 90.2625%, test loss: 0.4599315173923969, test acc: 64.65%
epoch: 15, train loss: 0.230560154011339, train acc: 90.25%, test loss: 0.5330324852528459, test acc: 78.65%
epoch: 16, train loss: 0.2357158786247647, train acc: 90.275%, test loss: 0.43481465242803897, test acc: 81.9%
epoch: 17, train loss: 0.22058612522151735, train acc: 91.125%, test loss: 0.4950301814824343, test acc: 79.65%
epoch: 18, train loss: 0.220738167485811, train acc: 90.625%, test loss: 0.3286029746512374, test acc: 86.45%
epoch: 19, train loss: 0.2167077401220531, train acc: 90.725%, test loss: 0.3108179662736645, test acc: 86.15%
"""
_UNI_LINE = re.compile(
    r"epoch: (\d+), train loss: ([\d.]+), train acc: ([\d.]+%), test loss: ([\d.]+), test acc: ([\d.]+%)"
)


def _uni_log() -> list[Figure]:
    out = []
    lines = UNI_LOG.splitlines()
    for line in lines:
        match = _UNI_LINE.fullmatch(line)
        assert match, line
        n, train_loss, train_acc, test_loss, test_acc = match.groups()
        epoch, last = int(n) + 1, line == lines[-1]
        # the line's four figures share all but what, printed, value, split and the why/measure
        line_of = Figure(
            report=REPORT,
            what="",
            printed="",
            value=None,
            where=f"Figura 2 (per-epoch log), line 'epoch: {n}'",
            quote=line,
            epoch=epoch,
            model=UNI_RECIPE,
            curve=not last,
        )
        out += [
            replace(
                line_of,
                what=f"train loss, epoch {epoch}",
                printed=train_loss,
                value=float(train_loss),
                split="train",
                measure="train loss, last epoch" if last else None,
                why="" if last else EARLIER,
            ),
            replace(
                line_of,
                what=f"train accuracy, epoch {epoch}",
                printed=train_acc,
                value=fraction(train_acc),
                split="train",
                measure="train accuracy, last epoch" if last else None,
                why="" if last else EARLIER,
            ),
            replace(
                line_of,
                what=f"test loss, epoch {epoch} (test images augmented as in training)",
                printed=test_loss,
                value=float(test_loss),
                split="test",
                why=NO_TEST_LOSS,
            ),
            replace(
                line_of,
                what=f"test accuracy, epoch {epoch} (test images augmented as in training)",
                printed=test_acc,
                value=fraction(test_acc),
                split="test",
                headline=last,
                why=HEADLINE if last else EARLIER,
            ),
        ]
    return out


UNI_FIGURES = [
    *_uni_log(),
    Figure(
        report=REPORT,
        what="test accuracy in the discussion (the log's last line again)",
        printed="86.15 %",
        value=0.8615,
        where="3 Discusión de resultados",
        quote="Se obtuvo un test-accuracy de 86.15 %",
        split="test",
        epoch=20,
        model=UNI_RECIPE,
        why="the headline, printed a second time",
    ),
    Figure(
        report=REPORT,
        what="accuracy of the trained model on test images, in the abstract",
        printed="83.9%",
        value=0.839,
        where="Resumen",
        quote="clasificar las imágenes con una precisión del 83.9%",
        split="test",
        why="no line of the printed log reads 83.9%: a run or an epoch the text does not show",
    ),
    Figure(
        report=REPORT,
        what="accuracy in the conclusion",
        printed="83.4 %",
        value=0.834,
        where="Conclusiones",
        quote="se obtuvo una precisión del 83.4 %",
        why="no line of the printed log reads 83.4%, and the text names no split: a run it does not show",
    ),
    Figure(
        report=REPORT,
        what="test accuracy with shuffle=False in the DataLoaders",
        printed="62 %",
        value=0.62,
        where="2 Resultados, the dataloaders' bullet",
        quote="(test-accuracy = 62 %)",
        split="test",
        why="another configuration (shuffle=False); the harness always shuffles its training batches",
    ),
]
