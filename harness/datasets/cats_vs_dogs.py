"""Cats vs dogs in the three layouts users download: Kaggle `chetankv/dogs-cats-images`
(training_set/{cats,dogs}, test_set/{cats,dogs}), the 25,000-image Kaggle competition
(train/cat.N.jpg, train/dog.N.jpg) and Microsoft's PetImages/{Cat,Dog}.

The first comes split; the other two are split per class with a fixed seed into itesm2022's
variants: A, 4,000 train and 1,000 test per class; B, 10,000 and 2,500 (20,000 / 5,000).
10% of each class's training files are held out for validation.
"""

from __future__ import annotations

from pathlib import Path

from harness.heads import Head

from ._download import kaggle_download
from ._images import class_folders, decode_labelled, folder_of_classes, image_files, unknown_class_folders
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, register_task
from ._split import VAL_FRACTION, per_class, stratified

CLASSES = ("cat", "dog")
NAMES = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}  # folder names, lower-cased
PER_CLASS = {"A": (4000, 1000), "B": (10000, 2500)}  # itesm2022's two splits: (train, test) per class
KAGGLE = "chetankv/dogs-cats-images"


def _layout(folder: Path) -> str | None:
    if (folder / "training_set").is_dir() and (folder / "test_set").is_dir():
        return "chetankv"
    if (folder / "train").is_dir() and any(
        p.name.lower().startswith(("cat.", "dog.")) for p in image_files(folder / "train")
    ):
        return "kaggle"
    if (folder / "PetImages").is_dir():
        return "petimages"
    return None


def _nested(folder: Path, name: str) -> Path:
    """Kaggle zips sometimes repeat a folder (training_set/training_set/cats): step into the repeat."""
    inner = folder / name
    return inner / name if (inner / name).is_dir() else inner


def find(root: Path, request: Request) -> Path:
    candidates = [root / "cats_vs_dogs", root]
    candidates += [d for base in candidates if base.is_dir() for d in class_folders(base)]  # e.g. kagglehub's dataset/
    for folder in candidates:
        layout = _layout(folder)
        if layout == "chetankv" and request.variant != "A":
            continue  # its fixed split is variant A's size; B needs a 25,000-image layout
        if layout:
            return folder
    raise MissingData(
        f"cats vs dogs ({request.variant}) not found under {root}",
        f"put training_set/{{cats,dogs}} and test_set/{{cats,dogs}} (Kaggle {KAGGLE}) in {root / 'cats_vs_dogs'}, "
        "or the 25,000-image train/ folder or PetImages/ there (needed for variant B), "
        "or run online with Kaggle access",
    )


def _labelled(folder: Path) -> list[tuple[Path, int]]:
    """(file, class) from names like cat.123.jpg."""
    return [
        (p, NAMES[p.name.split(".")[0].lower()]) for p in image_files(folder) if p.name.split(".")[0].lower() in NAMES
    ]


def decode(folder: Path, request: Request) -> TaskData:
    size = request.image_size or 128
    layout = _layout(folder)
    notes: list[str] = []
    if layout == "chetankv":
        notes += [n for s in ("training_set", "test_set") if (n := unknown_class_folders(_nested(folder, s), NAMES))]
        train_files = folder_of_classes(_nested(folder, "training_set"), NAMES)
        test_files = folder_of_classes(_nested(folder, "test_set"), NAMES)
        train_x, train_y, skipped = decode_labelled(train_files, size, CLASSES, folder / "training_set")
        test_x, test_y, skipped_test = decode_labelled(test_files, size, CLASSES, folder / "test_set")
        skipped += skipped_test
    else:
        if layout == "petimages" and (note := unknown_class_folders(folder / "PetImages", NAMES)):
            notes.append(note)
        files = _labelled(folder / "train") if layout == "kaggle" else folder_of_classes(folder / "PetImages", NAMES)
        images, labels, skipped = decode_labelled(files, size, CLASSES, folder)
        n_train, n_test = PER_CLASS[request.variant]
        test_idx, train_idx = per_class(labels, [n_test, n_train])  # test first: it is never short-changed
        train_x, train_y, test_x, test_y = images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
    rest, held = stratified(train_y, VAL_FRACTION)
    return TaskData(
        Split(train_x[rest], train_y[rest]),
        Split(train_x[held], train_y[held]),
        Split(test_x, test_y),
        source=f"{layout} layout in {folder}, {size} px",
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


CATS_VS_DOGS = register_task(
    DatasetSpec(
        name="cats_vs_dogs",
        kind="classification",
        input_shape=(3, 128, 128),
        classes=CLASSES,
        mean=(0.484, 0.451, 0.413),
        std=(0.255, 0.248, 0.250),  # measured: chetankv training set, 128 px
        find=find,
        decode=decode,
        heads=(Head.LOGITS, Head.SINGLE_LOGIT),
        variants=("A", "B"),
        resizable=True,
        augment="uni2022",
        download=kaggle_download(KAGGLE, "cats_vs_dogs"),
        description="cats vs dogs photos, resized (default 128 px); variants A (8k/2k) and B (20k/5k)",
    )
)
