"""PNG figures for `harness show --png DIR`: learning curves and the confusion matrix.

matplotlib is an optional extra (`pip install "harness[plots]"`); everything else in the
harness runs without it, so it is imported here only, and its absence is one clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.paths import writable_dir


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise HarnessError(
            "--png needs matplotlib, which is not installed",
            'pip install "harness[plots]" (or pip install matplotlib), or leave out --png',
        ) from None
    matplotlib.use("Agg")  # files only: no display needed (servers, CI)
    import matplotlib.pyplot as plt

    return plt


def write_pngs(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """`<trial>_curves.png` (loss and the scores per epoch, train vs val) and, for
    classification, `<trial>_confusion.png` (row-normalised); returns the paths written."""
    plt = _pyplot()  # before touching the folder: a missing extra writes nothing
    writable_dir(out_dir, what="--png folder", hint="pass --png a folder you can write")
    trial, epochs = report["trial"], report["epochs"]
    written = []
    if epochs:
        kinds = sorted(
            {k.split("_", 1)[1] for k in epochs[0] if k.startswith(("train_", "val_"))}, key=lambda k: k != "loss"
        )
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
        written.append(_save(fig, out_dir / f"{trial['id']}_curves.png", plt))
    if report["confusion_normalised"]:
        classes, n = report["classes"], len(report["classes"])
        matrix = [[float("nan") if v is None else v for v in row] for row in report["confusion_normalised"]]
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
        ax.set(xlabel="predicted", ylabel="true", title=f"test split, epoch {report['test']['epoch']}: rows sum to 1")
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{trial['id']}_confusion.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
