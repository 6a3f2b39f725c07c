"""What data each report trained on, and how the offline copies in ../shared/data differ from it.

The reproduction document sets the data we used (measured: the image counts the trial's sweep
recorded) beside the report's own (declared here, from REPORTS.md), one caveat per line, so a
gap to a published figure is read against the data behind it. An offline copy is recognised by
the PROVENANCE.md its folder carries (../shared/data/README.md); its caveats are the ones that
file and the data README state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportData:
    text: str  # what the report trained and tested on, in one line
    train_images: int | None = None  # its training images, where stated: a data-size curve is extrapolated there
    unit: str = "images"  # what they are called in a status line ("1,800 of 8,000 photos")


# (report, task) -> the report's data, as REPORTS.md states it
REPORT_DATA: dict[tuple[str, str], ReportData] = {
    ("uni2022-catsdogs", "cats_vs_dogs"): ReportData(
        "Kaggle chetankv/dogs-cats-images: 8,000 training photos (4,000 per class), 2,000 test photos, full size",
        8_000,
        "photos",
    ),
    ("uchile2020-cifar10", "cifar10"): ReportData(
        "CIFAR-10 (torchvision): data_batch_1 to train (10,000), data_batch_2 to validate, test_batch to test",
        10_000,
    ),
    ("itesm2022-catsdogs", "cats_vs_dogs"): ReportData(
        "Kaggle dogs vs cats (25,000 photos): split A 8,000 train / 2,000 test, split B 20,000 train / 5,000 test",
        8_000,
        "photos",
    ),
    ("uni2022-pokemon", "pokemon150"): ReportData(
        "Kaggle lantian773030/pokemonclassification (~7,000 images, 150 classes), split not stated",
    ),
    ("itam2020-catsdogs-mnist", "cats_vs_dogs"): ReportData(
        "the course assignment's cats-vs-dogs photos at 150 px (counts not stated)",
    ),
    ("itam2020-catsdogs-mnist", "mnist_upsample"): ReportData(
        "MNIST (Keras), 7x7 inputs degraded from the 28x28 targets, 10% of input pixels flipped",
    ),
}


@dataclass(frozen=True)
class OfflineCopy:
    folder: str  # under the data root
    caveats: tuple[str, ...]  # how it differs from the real source, one line each


OFFLINE: dict[str, OfflineCopy] = {
    "cats_vs_dogs": OfflineCopy(
        "cats_vs_dogs",
        (
            "1,000 training photos per class of the source's 4,000 (2,000 of 8,000)",
            "resized so the longest side is at most 160 px and re-encoded as JPEG quality 90",
        ),
    ),
    "cifar10": OfflineCopy(
        "cifar10",
        ("pixels went through JPEG quality 75 once: about 30 dB PSNR against the official images",),
    ),
    "pokemon150": OfflineCopy(
        "pokemon150",
        (
            "longest side at most 128 px (the recipe resizes to 224)",
            "transparent PNGs put on white; 11 SVGs and 7 in-class duplicates dropped (6,817 images)",
        ),
    ),
    "mnist_upsample": OfflineCopy("mnist", ("byte-identical to the official MNIST files",)),
}


def report_data(report: str, task: str) -> ReportData | None:
    return REPORT_DATA.get((report, task))


def offline_caveats(task: str, data_root: str | None) -> tuple[str, ...] | None:
    """The offline copy's caveats when the task's data came from one (its folder carries a
    PROVENANCE.md), else None: a downloaded copy is the source itself."""
    copy = OFFLINE.get(task)
    if copy is None or not data_root or not (Path(data_root) / copy.folder / "PROVENANCE.md").is_file():
        return None
    return copy.caveats
