"""PNG figures: `harness show --png DIR` (learning curves, the confusion matrix) and
`harness analyze --png DIR` (parallel coordinates, the metric against the learning rate, the
best trials' curves).

matplotlib is an optional extra (`pip install "harness[plots]"`); everything else in the
harness runs without it, so it is imported here only, and its absence is one clear error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.paths import safe_name, writable_dir
from harness.safefile import refuse_links, writer

if TYPE_CHECKING:  # only the shapes of what is drawn: nothing of results runs here
    from harness.results.analyze import Analysis
    from harness.results.importance import Setting, Trial
    from harness.results.show import TrialReport

DPI = 110  # dots per inch of every PNG written


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise HarnessError(
            "--png needs matplotlib, which is not installed",
            'pip install "harness[plots]" (or pip install matplotlib), or leave out --png',
        ) from None
    matplotlib.use("Agg")  # files only: no display needed (servers, CI)
    # Titles and labels come from data (labels, report names): `$...$` in them is text, not maths
    # (mathtext would fail on an unknown symbol, or draw what the text forged).
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


# Epoch keys with a train_/val_ prefix that are not scores: `val_n` counts the validation images
NOT_CURVES = frozenset({"n"})


def curve_kinds(epochs: Sequence[Mapping[str, object]]) -> list[str]:
    """The panels of a trial's learning curves: each score recorded for train or val (the loss
    first), never a count such as `val_n`."""
    prefixed = {k.split("_", 1)[1] for e in epochs for k in e if k.startswith(("train_", "val_"))}
    return sorted(prefixed - NOT_CURVES, key=lambda k: (k != "loss", k))


def write_pngs(report: TrialReport, out_dir: Path) -> list[Path]:
    """`<trial>_curves.png` (loss and the scores per epoch, train vs val) and, for
    classification, `<trial>_confusion.png` (row-normalised); returns the paths written."""
    plt = _pyplot()  # before touching the folder: a missing extra writes nothing
    writable_dir(out_dir, what="--png folder", hint="pass --png a folder you can write")
    trial, epochs = report["trial"], report["epochs"]
    refuse_links((out_dir / safe_name(f"{trial['id']}_{kind}.png") for kind in ("curves", "confusion")), what="PNG")
    written = []
    if epochs:
        kinds = curve_kinds(epochs)
        fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.6), squeeze=False)
        x = [e["epoch"] for e in epochs]
        for ax, kind in zip(axes[0], kinds):
            for split in ("train", "val"):
                ys = [e.get(f"{split}_{kind}") for e in epochs]
                if any(y is not None for y in ys):
                    ax.plot(x, [float("nan") if y is None else y for y in ys], marker="o", markersize=3, label=split)
            ax.set(title=kind, xlabel="epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
            ax.legend()
        fig.suptitle(f"{trial['arch']} on {trial['task']} (trial {trial['id']})")
        fig.tight_layout()
        written.append(_save(fig, out_dir / safe_name(f"{trial['id']}_curves.png"), plt))
    normalised, test = report["confusion_normalised"], report["test"]
    if normalised and test:  # a confusion matrix comes with the test scoring it is part of
        classes, n = report["classes"], len(report["classes"])
        matrix = [[float("nan") if v is None else v for v in row] for row in normalised]
        side = min(4 + 0.45 * n, 30)
        fig, ax = plt.subplots(figsize=(side, side * 0.85))
        image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, fraction=0.046)
        if n <= 30:  # beyond that the labels overlap; the axes stay indexed
            ax.set_xticks(range(n), classes, rotation=90)
            ax.set_yticks(range(n), classes)
            for t in range(n) if n <= 12 else ():
                for p in range(n):
                    if matrix[t][p] == matrix[t][p]:  # not NaN
                        ax.text(
                            p,
                            t,
                            f"{matrix[t][p]:.2f}",
                            ha="center",
                            va="center",
                            color="white" if matrix[t][p] > 0.5 else "black",
                            fontsize=8,
                        )
        ax.set(xlabel="predicted", ylabel="true", title=f"test split, epoch {test['epoch']}: rows sum to 1")
        fig.tight_layout()
        written.append(_save(fig, out_dir / safe_name(f"{trial['id']}_confusion.png"), plt))
    return written


def _save(fig: Any, path: Path, plt: Any, **options: Any) -> Path:
    """Every PNG goes through a temporary file renamed over `path` (harness.safefile): never
    through a link at its name. Names made from the store's data come reduced by `safe_name`."""
    try:
        with writer(path, what="PNG") as handle:
            fig.savefig(handle, format="png", dpi=DPI, **options)
    finally:
        plt.close(fig)
    return path


# `harness analyze --png DIR`: three figures per task of the sweep, each of a fixed size
# (inches at `DPI`), so a reader (and the tests) know what they get.
ANALYSIS_FIGURES = {"parallel": (9.0, 4.5), "lr": (6.0, 4.5), "curves": (9.0, 4.0)}


def write_analysis_pngs(analyses: list[Analysis], out_dir: Path) -> list[Path]:
    """Per task: `<sweep>_<task>_parallel.png` (every trial as a line across its settings and the
    metric), `_lr.png` (the metric against the learning rate, log scale, a series per
    architecture x optimizer) and `_curves.png` (the validation curves of the best trials)."""
    plt = _pyplot()  # before touching the folder: a missing extra writes nothing
    writable_dir(out_dir, what="--png folder", hint="pass --png a folder you can write")
    stems = [safe_name(f"{a['sweep_id']}_{a['task']}") for a in analyses]  # a folder:PATH task holds slashes
    refuse_links((out_dir / f"{stem}_{kind}.png" for stem in stems for kind in ANALYSIS_FIGURES), what="PNG")
    written = []
    for a, stem in zip(analyses, stems, strict=True):
        # the trials that trained normally, with their metric (every one has it: what `usable` checks)
        scored = [(t, t["metric"]) for t in a["rows"] if t["usable"] and t["metric"] is not None]
        for kind, draw in (("parallel", _parallel), ("lr", _metric_vs_lr), ("curves", _top_curves)):
            fig, ax = plt.subplots(figsize=ANALYSIS_FIGURES[kind])
            draw(ax, a, scored, plt)
            fig.tight_layout()
            written.append(_save(fig, out_dir / f"{stem}_{kind}.png", plt))
    return written


def _parallel(ax: Any, a: Analysis, scored: list[tuple[Trial, float]], plt: Any) -> None:
    """An axis per varying setting (numbers by position on a log scale when positive, names by
    their order) and one for the metric; each trial a line coloured by its metric."""
    axes = [*a["varying"], a["metric"]]
    if not scored:
        ax.set_title(f"{a['task']}: no trial trained normally")
        return
    metrics = [value for _, value in scored]
    low, high = min(metrics), max(metrics)

    def height(value: float) -> float:
        """On the metric's axis: the lowest trial at 0, the highest at 1."""
        return (value - low) / ((high - low) or 1.0)

    def position(name: str, value: Setting) -> float:
        choices = a["varying"][name]
        numbers = [v for v in choices if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0]
        if len(numbers) == len(choices) and isinstance(value, (int, float)):  # a number among numbers
            lo, hi = math.log10(min(numbers)), math.log10(max(numbers))
            return (math.log10(value) - lo) / ((hi - lo) or 1.0)
        return choices.index(value) / ((len(choices) - 1) or 1)

    colours = plt.get_cmap("viridis")
    for t, value in sorted(scored, key=lambda pair: pair[1]):  # the best drawn last, on top
        ys = [*(position(name, t["params"].get(name)) for name in a["varying"]), height(value)]
        ax.plot(range(len(axes)), ys, color=colours(height(value)), alpha=0.7, linewidth=1.2)
    for i, name in enumerate(axes):
        ax.axvline(i, color="black", linewidth=0.8)
        ticks: list[tuple[Setting, float]] = (
            [(v, position(name, v)) for v in a["varying"][name]]
            if name != a["metric"]
            else [(low, height(low)), (high, height(high))]
        )
        if len(ticks) > 6:  # a random search's rates: the axis' ends only, or the labels overlap
            ticks = [ticks[0], ticks[-1]]
        for v, y in ticks:
            text = f"{v:.4g}" if isinstance(v, float) else str(v)
            ax.text(i + 0.03, y, text, fontsize=8, va="center")
    ax.set_xticks(range(len(axes)), axes)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes) - 0.6)
    ax.set_title(f"{a['task']}, sweep {a['sweep_id']}: each trial across its settings and {a['metric']}")


def _metric_vs_lr(ax: Any, a: Analysis, scored: list[tuple[Trial, float]], plt: Any) -> None:
    series: dict[str, list[tuple[float, float]]] = {}
    for t, value in scored:
        config = json.loads(t["config"])
        series.setdefault(f"{config['arch']} {config['optimizer']}", []).append((float(config["lr"]), value))
    for name, points in sorted(series.items()):
        dots = ax.scatter([p[0] for p in points], [p[1] for p in points], label=name, alpha=0.75)
        means: dict[float, list[float]] = {}
        for lr, value in points:
            means.setdefault(lr, []).append(value)
        xs = sorted(means)
        if len(xs) <= 12:  # a grid's rates: the mean over seeds as a line; a random search's stay dots
            ax.plot(xs, [sum(means[x]) / len(means[x]) for x in xs], color=dots.get_facecolor()[0], alpha=0.6)
    ax.set_xscale("log")
    ax.set(xlabel="learning rate (log scale)", ylabel=a["metric"], title=f"{a['task']}: {a['metric']} vs learning rate")
    if series:
        ax.legend(fontsize=8)


def _top_curves(ax: Any, a: Analysis, scored: list[tuple[Trial, float]], plt: Any) -> None:
    from harness.results.analyze import label

    for row in a["top"]:
        epochs = range(1, len(row["curve"]) + 1)
        ys = [float("nan") if v is None else v for v in row["curve"]]
        ax.plot(epochs, ys, marker="o", markersize=3, label=f"{label(row['params'])} seed {row['seed']}".strip())
    ax.set(xlabel="epoch", ylabel=a["metric"], title=f"{a['task']}: the {len(a['top'])} best trials, per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if a["top"]:
        ax.legend(fontsize=8)


def save_curve(
    path: Path,
    *,
    title: str,
    epochs: list[int],
    series: dict[str, list[float | None]],
    published: float | None,
    published_label: str = "published",
) -> Path:
    """`harness report --png`: one recipe's learning curve, with the report's published figure
    as a dashed line. No timestamp in the file: the same curve gives the same bytes."""
    plt = _pyplot()
    writable_dir(path.parent, what="--png folder", hint="pass --out a path in a folder you can write")
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for label, values in series.items():
        points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".", label=label)
    if published is not None:
        ax.axhline(published, linestyle="--", color="black", label=f"{published_label} {100 * published:.2f}%")
    ax.set(xlabel="epoch", ylabel="accuracy")
    ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path, plt, metadata={"Software": None})
