"""Users' own images as tasks: `folder:PATH` (class-per-folder, split here or as given) and
`hf:PATH` (a dataset saved with Hugging Face's save_to_disk), on real files the tests write."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from realfiles import USER_CLASSES, write_image_folder

from harness.datasets import describe_task, get_task, load_task, prepare
from harness.errors import HarnessError


def _task(folder: Path) -> str:
    return f"folder:{folder}"


def test_a_folder_is_a_task_of_its_class_folders_in_sorted_order(tmp_path):
    folder = write_image_folder(tmp_path / "my images", per_class=20)
    (folder / ".hidden").mkdir()
    task = get_task(_task(folder))
    assert task.classes == tuple(sorted(USER_CLASSES)) and task.kind == "classification"
    assert task.input_shape == (3, 64, 64) and task.request().variant == "0.8,0.1,0.1"
    meta = prepare(task.name)
    # every class split 16 / 2 / 2 by the fixed seed; PNG, JPEG, BMP and WebP, grey and colour, all read
    assert meta["per_class"] == {
        "train": dict.fromkeys(task.classes, 16),
        "val": dict.fromkeys(task.classes, 2),
        "test": dict.fromkeys(task.classes, 2),
    }
    assert meta["shape"] == [3, 64, 64] and not meta["skipped"]
    again = load_task(task.name)
    assert again.train.images.shape == (48, 3, 64, 64)
    # the same seed, the same split: a second build is the same arrays
    other = prepare(task.name, image_size=32)
    assert other["shape"] == [3, 32, 32] and other["counts"] == meta["counts"]


def test_another_split_and_the_cache_follow_the_folder(tmp_path):
    folder = write_image_folder(tmp_path / "set", per_class=20)
    name = _task(folder)
    assert prepare(name, variant="0.5,0.25,0.25")["counts"] == {"train": 30, "val": 15, "test": 15}
    write_image_folder(folder, per_class=24)  # four more images in each class
    rebuilt = prepare(name, variant="0.5,0.25,0.25", verify=True)
    assert "changed" in rebuilt["rebuilt"] and rebuilt["counts"]["train"] == 36
    assert describe_task(name, variant="0.5,0.25,0.25")["status"] == "cached"


def test_a_pre_split_folder_keeps_its_splits(tmp_path):
    source = write_image_folder(tmp_path / "flat", per_class=12)
    split = tmp_path / "split"
    for part, files in (("train", range(0, 8)), ("val", range(8, 10)), ("test", range(10, 12))):
        for name in USER_CLASSES:
            (split / part / name).mkdir(parents=True)
            for i in files:
                match = next((source / name).glob(f"img {i:03d}.*"))
                shutil.copy(match, split / part / name / match.name)
    meta = prepare(_task(split))
    assert meta["counts"] == {"train": 24, "val": 6, "test": 6}
    assert "splits given: train/, val/, test/" in meta["source"]
    # train/ and test/ only: validation comes off train/, the test split stays as given
    shutil.rmtree(split / "val")
    meta = prepare(_task(split), verify=True)  # the driver's check: the folder changed
    assert meta["counts"]["test"] == 6 and meta["counts"]["train"] + meta["counts"]["val"] == 24
    assert meta["per_class"]["val"] == dict.fromkeys(sorted(USER_CLASSES), 1)


def test_a_class_folder_unknown_to_the_given_splits_is_a_note(tmp_path):
    split = tmp_path / "split"
    write_image_folder(split / "train", per_class=10)
    write_image_folder(split / "test", per_class=4, classes=(*USER_CLASSES, "birds"))
    meta = prepare(_task(split))
    assert any("birds" in note for note in meta["notes"])
    assert meta["counts"]["test"] == 12  # the birds left out


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"one": 5}, "holds 1 class folder(s); a classification task needs at least 2"),
        ({"big": 20, "small one": 2}, "class 'small one' has 2 readable image(s), too few for the split"),
    ],
)
def test_a_folder_that_cannot_be_a_task_is_one_line(tmp_path, layout, message):
    folder = tmp_path / "data"
    for name, count in layout.items():
        write_image_folder(folder, per_class=count, classes=(name,))
    with pytest.raises(HarnessError) as info:
        prepare(_task(folder))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_bad_split_is_one_line(tmp_path):
    folder = write_image_folder(tmp_path / "data", per_class=10)
    for bad in ("0.5,0.5", "0.8,0.1,0.2", "a,b,c", "0.9,0.1,0"):
        with pytest.raises(HarnessError, match="split"):
            get_task(_task(folder)).request(bad)


def test_a_saved_hugging_face_dataset_is_a_task(tmp_path):
    import datasets  # the harness[hf] extra, which the test command installs

    rng = np.random.default_rng(0)
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["ant", "bee", "cat"])})
    rows = {
        "img": [Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)) for _ in range(30)],
        "label": [i % 3 for i in range(30)],
    }
    whole = datasets.Dataset.from_dict(rows, features=features)
    saved = tmp_path / "hf"
    datasets.DatasetDict({"train": whole.select(range(24)), "test": whole.select(range(24, 30))}).save_to_disk(saved)
    task = get_task(f"hf:{saved}")
    assert task.classes == ("ant", "bee", "cat")
    meta = prepare(task.name, variant="0.75,0.125,0.125", image_size=16)
    assert meta["counts"]["test"] == 6 and meta["counts"]["train"] + meta["counts"]["val"] == 24
    assert meta["shape"] == [3, 16, 16]


def test_a_folder_posing_as_a_report_task_with_other_classes_is_never_set_beside_its_figures(tmp_path):
    from realfiles import cats_and_dogs

    from harness.config.spec import SweepSpec
    from harness.results.matching import differences, recipe_terms, trial_terms

    root = tmp_path / "data"
    cats_and_dogs(root / "cats_vs_dogs", 20, layout="chetankv")
    write_image_folder(root / "cats_vs_dogs" / "training_set", per_class=5, classes=("birds",))
    meta = prepare("cats_vs_dogs", root, variant="A", image_size=32)
    (note,) = meta["notes"]
    assert note.endswith("ignored folder(s) that are no class of the task: birds")
    assert meta["per_class"]["train"].keys() == {"cat", "dog"}
    recipe = SweepSpec(task="cats_vs_dogs", archs=("mlp",), variant="A", image_size=32, epochs=1)
    config = {"task": "cats_vs_dogs", "arch": "mlp", "variant": "A", "image_size": 32, "epochs": 1}
    assert differences(trial_terms(config, 1), recipe_terms(recipe)) == []  # the same run on the task's own data
    assert differences(trial_terms(config, 1, [note]), recipe_terms(recipe)) == ["other data: folders birds left out"]
